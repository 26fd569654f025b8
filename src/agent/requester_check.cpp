// The pure parts of requester.hpp (labels, the per-request check), apart
// from the /proc and cgroup reading so unit tests and the usage record's
// pure code can use them.
#include "agent/requester.hpp"

#include "util/text.hpp"

namespace puddle::agent {

std::string Requester::program_label() const { return one_line_label(program(), kMaxLabelBytes); }

std::string Requester::unit_label() const { return one_line_label(unit, kMaxLabelBytes); }

std::string requester_change(const Requester &described, std::optional<pid_t> sender_pid, bool alive,
                             const Requester &now) {
    const std::string pid = std::to_string(described.pid);
    if (sender_pid && *sender_pid != described.pid)
        return "the request was sent by " +
               (*sender_pid > 0 ? "pid " + std::to_string(*sender_pid) : std::string("a process the agent cannot see")) +
               ", not by the process that connected (pid " + pid + "); a program asks on a connection of its own";
    if (!alive) return "the process that connected (pid " + pid + ") is gone";
    if (now.program() != described.program())
        return "the process that connected (pid " + pid + ") now runs " + now.program_label() + ", not " +
               described.program_label() + " as when it connected; a program asks on a connection of its own";
    return {};
}

} // namespace puddle::agent

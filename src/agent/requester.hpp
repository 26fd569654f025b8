// Who asked, in the words the record and consent use: the requesting
// process's executable, its systemd unit (user unit first, else the system
// unit, e.g. a login's session-N.scope) and its logind session. Described
// when the door first meets the process — at accept on the sockets, at the
// first call of a bus name — while the process is pinned by a pidfd, and
// checked again before each request (requester_change): a description read
// lazily at the first request would name whatever the connecting process
// had become by then (puddle-agent(1) SECURITY).
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace puddle::agent {

// The longest label of a program or unit shown in a prompt or a record line.
inline constexpr std::size_t kMaxLabelBytes = 256;

struct Requester {
    pid_t pid = 0;
    std::string exe;     // "/usr/bin/git"; "" when it cannot be read (the process is gone)
    std::string comm;    // /proc/PID/comm, for when exe cannot be read
    std::string unit;    // "app-gnome-terminal-….scope", "session-3.scope"; "" when none
    std::string session; // logind session id; "" when none

    // What identifies the program (consent's memory, the known requesters):
    // the executable's path, else "[comm]", else "pid N". Raw bytes; never
    // shown as is.
    std::string program() const {
        if (!exe.empty()) return exe;
        if (!comm.empty()) return "[" + comm + "]";
        return "pid " + std::to_string(pid);
    }
    // The same as one line of printable text, capped (util/text
    // one_line_label): a path may hold newlines and escape codes, and a
    // prompt must not show lines the requester wrote.
    std::string program_label() const;
    std::string unit_label() const;
};

// Reads /proc/PID/exe, comm and the cgroup (sd_pid_get_*). Unreadable parts
// stay empty: a requester that already left is still recorded, as "pid N".
Requester describe_requester(pid_t pid);

struct Peer; // authorizer.hpp

// The peer's process is still the one pinned when it was met (its pidfd, or
// its start time where there is no pidfd).
bool peer_alive(const Peer &peer);

// Describes the pinned peer and keeps the description with it. A peer that
// is gone by the end of the reading is described as "pid N" only: its pid
// may already name another process.
const Requester &describe_peer(const Peer &peer);

// The peer's requester as described when it was met (describe_peer); a peer
// never described is described now.
const Requester &requester_of(const Peer &peer);

// Pure: why a request may not be taken as the described requester's, "" when
// it may. `sender_pid`: the process that sent the request (SCM_CREDENTIALS;
// nullopt where the door cannot know, the bus); `alive`: the pinned process
// still runs; `now`: its program read again now (a process that is not
// dumpable, like puddle itself, hides its executable: then its comm counts).
std::string requester_change(const Requester &described, std::optional<pid_t> sender_pid, bool alive,
                             const Requester &now);

// requester_change for the peer now: reads its executable again.
std::string requester_changed(const Peer &peer, std::optional<pid_t> sender_pid);

} // namespace puddle::agent

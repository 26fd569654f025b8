// The CLI's side of the agent's D-Bus API: calls on org.puddle.Agent1 over
// the user bus (auto-starting the agent), with bus errors turned into
// puddle errors and exit codes.
#pragma once

#include "core/identity.hpp"
#include "core/secret.hpp"
#include "util/sd.hpp"

#include <optional>
#include <string>

namespace puddle::cli {

struct AgentState {
    bool unlocked = false;
    std::string pubkey;
    std::uint64_t idle_timeout_usec = 0;
    std::uint64_t lock_deadline_usec = 0;
    std::uint32_t watch_pid = 0;
    // puddle-agent(1) RECORD: counts since the last unlock, and the last use
    // (time_usec 0: none since the agent started).
    std::uint64_t signed_uses = 0, refused_uses = 0;
    struct LastUse {
        std::uint64_t time_usec = 0;
        std::string program, unit, purpose, outcome;
    } last_use;
    std::uint64_t record_not_written = 0; // usage record entries, since the agent started
};

class AgentClient {
public:
    // Throws Error when the user bus cannot be reached.
    AgentClient();

    void unlock(const SecretBuffer &passphrase, std::uint64_t idle_usec, std::uint32_t watch_pid);
    void lock();
    struct Rekeyed {
        std::string pub;
        std::vector<std::string> sealed_to, unreachable;
    };
    Rekeyed rekey(const SecretBuffer &passphrase, const SecretBuffer &new_passphrase);
    std::string set_name(const std::string &name);
    Signature sign(std::span<const std::uint8_t> data);
    AgentState state();

private:
    SdBus bus_;
};

// The agent's state if it can be reached, nullopt otherwise (status uses this).
std::optional<AgentState> try_agent_state(std::string *why, std::string *hint = nullptr);

// Empty when the agent serves the identity `pub` of this command's state
// directory; otherwise why not (it reads another directory: the user
// manager's PUDDLE_HOME, or ~/.puddle), one sentence.
std::string agent_mismatch(const AgentState &agent, const PublicKey &pub);
// How to point the agent at this command's state directory.
std::string agent_mismatch_hint();
// Throws (exit 1, with that hint) when the agent does not serve `pub`.
void check_agent_serves(AgentClient &agent, const PublicKey &pub, const std::string &verb);

} // namespace puddle::cli

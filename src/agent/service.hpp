// What every door does after framing: authorize the peer, then act on the
// session. One path for the socket and the bus (and later doors), so a
// request gets the same checks whichever way it arrives.
#pragma once

#include "agent/agent_error.hpp"
#include "agent/session.hpp"

#include <string>
#include <sys/types.h>

namespace puddle::agent {

inline constexpr std::string_view kReservedPrefix = "puddle-statement-";

enum class Action { sign, unlock, lock, status };

// Who is asking, as the door learned it from the kernel (SO_PEERCRED) or the
// bus (sender credentials).
struct Peer {
    pid_t pid = 0;
    uid_t uid = uid_t(-1);
};

struct StatusSnapshot {
    bool unlocked;
    std::string pubkey; // empty when not initialized
    std::uint64_t lock_deadline_usec;
    std::uint64_t idle_timeout_usec;
    pid_t watch_pid;
};

class Service {
public:
    explicit Service(Session &session);

    Signature sign(const Peer &peer, std::span<const std::uint8_t> data);
    void unlock(const Peer &peer, const SecretBuffer &passphrase, std::uint64_t idle_usec, pid_t watch_pid);
    void lock(const Peer &peer);
    StatusSnapshot status(const Peer &peer, bool renew);
    std::string pubkey(const Peer &peer); // throws not_initialized

    Session &session() { return session_; }

private:
    // Throws AgentError(denied) unless the peer may perform the action.
    void authorize(const Peer &peer, Action action);
    Session &session_;
    uid_t own_uid_;
};

} // namespace puddle::agent

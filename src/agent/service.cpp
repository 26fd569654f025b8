#include "agent/service.hpp"

#include "util/log.hpp"

#include <algorithm>
#include <unistd.h>

namespace puddle::agent {

Service::Service(Session &session) : session_(session), own_uid_(::getuid()) {}

void Service::authorize(const Peer &peer, Action) {
    if (peer.uid != own_uid_) {
        log_warning("refused a request from uid " + std::to_string(peer.uid) + " (pid " + std::to_string(peer.pid) +
                    "): not this agent's user");
        throw AgentError(Failure::denied, "only uid " + std::to_string(own_uid_) + " may use this agent");
    }
}

Signature Service::sign(const Peer &peer, std::span<const std::uint8_t> data) {
    authorize(peer, Action::sign);
    // Internal statements (rotation records, name claims) start with this
    // prefix; refusing it here means no client can obtain one.
    if (data.size() >= kReservedPrefix.size() &&
        std::equal(kReservedPrefix.begin(), kReservedPrefix.end(), data.begin()))
        throw AgentError(Failure::reserved_prefix,
                         "data starting with \"puddle-statement-\" is reserved for puddle's own statements");
    return session_.sign(data);
}

void Service::unlock(const Peer &peer, const SecretBuffer &passphrase, std::uint64_t idle_usec, pid_t watch_pid) {
    authorize(peer, Action::unlock);
    session_.unlock(passphrase, idle_usec, watch_pid);
}

void Service::lock(const Peer &peer) {
    authorize(peer, Action::lock);
    session_.lock(LockReason::explicit_lock);
}

StatusSnapshot Service::status(const Peer &peer, bool renew) {
    authorize(peer, Action::status);
    if (renew) session_.touch();
    auto pub = session_.public_key();
    return StatusSnapshot{session_.unlocked(), pub ? pub->str() : std::string(), session_.deadline_realtime_usec(),
                          session_.idle_usec(), session_.watch_pid()};
}

std::string Service::pubkey(const Peer &peer) {
    authorize(peer, Action::status);
    auto pub = session_.public_key();
    if (!pub) throw AgentError(Failure::not_initialized, "no puddle identity here; run 'puddle init'");
    return pub->str();
}

} // namespace puddle::agent

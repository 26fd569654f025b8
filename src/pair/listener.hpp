// The pair listener (puddle-pair(1)): the one owner of its event loop, the
// listening sockets, the connection threads and the outcome of the one
// pending claim. It serves until the claim ends, the code expires or
// SIGTERM arrives, then records the result in <purpose>.result.
#pragma once

#include "core/config.hpp"
#include "core/files/pending.hpp"
#include "core/statedir.hpp"
#include "pair/admission.hpp"
#include "pair/connection_thread.hpp"
#include "pair/holder.hpp"
#include "pair/rate_limit.hpp"
#include "pair/tls.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace puddle::pair {

// What there is to claim: pair.pending or rekey.pending, and its content.
struct PendingClaim {
    std::string file;
    PairPending pending;
};

// The claim waiting in the state directory, if any (pair.pending first).
std::optional<PendingClaim> find_pending_claim(const StateDir &dir);

class Listener {
public:
    // At most this many connections are served at once, at most this many
    // of them from one source network (an IPv4 /24, an IPv6 /64) and from
    // one address: idle connections from one place cannot take every slot
    // (pair/admission.hpp).
    static constexpr std::size_t kMaxConcurrent = 16;
    static constexpr std::size_t kMaxConcurrentPerNetwork = 4;
    static constexpr std::size_t kMaxConcurrentPerAddress = 2;
    // Per source address and per source network: at most this many
    // connections a minute, and at most this many of each tracked (new ones
    // past it are refused).
    static constexpr std::size_t kRateLimitPerMinute = 20;
    static constexpr std::size_t kNetworkRateLimitPerMinute = 60;
    static constexpr std::size_t kMaxTrackedAddresses = 4096;
    // Refused connections are logged, at most one line this often (with a
    // count of the others), so that a flood cannot flood the journal too.
    static constexpr std::time_t kRefusalLogSeconds = 10;

    // Throws Error when the TLS context or the event loop cannot be made.
    // SIGTERM must be blocked already (it is read from the loop).
    Listener(StateDir dir, const Config &config, const std::string &user, PendingClaim claim,
             std::vector<UniqueFd> sockets);
    Listener(const Listener &) = delete;
    Listener &operator=(const Listener &) = delete;

    // Serves the claim until it ends, then writes <purpose>.result (and
    // removes the pending file when it expired unclaimed).
    void run();

private:
    static int on_accept(sd_event_source *, int fd, std::uint32_t, void *userdata);
    static int on_expiry(sd_event_source *, std::uint64_t, void *userdata);
    static int on_prune(sd_event_source *, std::uint64_t, void *userdata);
    static int on_sigterm(sd_event_source *, const struct signalfd_siginfo *, void *userdata);
    void accept_one(int listening_fd);
    void claim_ended(const ConnectionThread &conn, ClaimOutcome outcome);
    void thread_done(const ConnectionThread &conn);
    void refused(const std::string &peer, const std::string &why, std::time_t now);
    void join_connections();
    void drain_expired();
    void record_result();
    void write_result(const std::string &result, const std::string &host, const std::string &peer);

    StateDir dir_;
    PendingClaim claim_;
    SslCtx ctx_;
    Holder holder_;
    SdEvent loop_;
    std::vector<UniqueFd> sockets_;
    std::vector<SdEventSource> accept_sources_;
    SdEventSource expiry_, prune_, sigterm_;
    RateLimit rate_{kRateLimitPerMinute, kMaxTrackedAddresses};
    RateLimit network_rate_{kNetworkRateLimitPerMinute, kMaxTrackedAddresses};
    SlotLimit slots_{kMaxConcurrent, kMaxConcurrentPerNetwork, kMaxConcurrentPerAddress};
    LogThrottle refusal_log_{kRefusalLogSeconds};
    bool stopped_ = false; // SIGTERM
    std::optional<ClaimOutcome> outcome_; // once burned, claimed or unacknowledged
    std::string final_peer_;
    // A connection being served, and the slot it holds.
    struct Served {
        std::unique_ptr<ConnectionThread> thread;
        Source source;
    };
    // Last: destroyed (joined) first, while the holder and the TLS context
    // they use are still there.
    std::vector<Served> connections_;
};

// Stops puddle-pair.socket when systemd runs this listener, unless a newer
// code is already waiting for it. A failure is logged.
void stop_own_socket(const StateDir &dir);

} // namespace puddle::pair

#include "pair/listener.hpp"

#include "core/files/pair_result.hpp"
#include "core/names.hpp"
#include "pair/channel.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/text.hpp"
#include "util/user_manager.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

namespace puddle::pair {
namespace {

constexpr std::uint64_t kUsecPerSecond = 1000000;

std::string peer_name(const sockaddr_storage &ss) {
    char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
    getnameinfo(reinterpret_cast<const sockaddr *>(&ss), sizeof ss, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    return std::string(host) + ":" + port;
}

UniqueFd accept_from(int listening_fd, sockaddr_storage &ss) {
    socklen_t len = sizeof ss;
    return UniqueFd(::accept4(listening_fd, reinterpret_cast<sockaddr *>(&ss), &len, SOCK_CLOEXEC));
}

} // namespace

std::optional<PendingClaim> find_pending_claim(const StateDir &dir) {
    dir.check_safe();
    for (const char *f : {kPairPendingFile, kRekeyPendingFile})
        if (auto pending = load_pending(dir, f)) return PendingClaim{f, std::move(*pending)};
    return std::nullopt;
}

Listener::Listener(StateDir dir, const Config &config, const std::string &user, PendingClaim claim,
                   std::vector<UniqueFd> sockets)
    : dir_(std::move(dir)), claim_(std::move(claim)), ctx_(make_tls_context(TlsRole::server, config.tls)),
      holder_(dir_, user, local_host_name(), claim_.file, claim_.pending,
              claims_for_payload(load_claims(dir_, config))),
      sockets_(std::move(sockets)) {
    sd_event *e = nullptr;
    int r = sd_event_new(&e);
    if (r < 0) throw_errno("cannot create the event loop", -r);
    loop_.reset(e);

    // A claim's end and a connection's end are heard before new connections
    // (see accept_one), and the expiry and SIGTERM before either.
    sd_event_source *src = nullptr;
    for (auto &fd : sockets_) {
        r = sd_event_add_io(loop_.get(), &src, fd.get(), EPOLLIN, on_accept, this);
        if (r < 0) throw_errno("cannot watch a listening socket", -r);
        accept_sources_.emplace_back(src);
    }
    r = sd_event_add_time(loop_.get(), &src, CLOCK_REALTIME, std::uint64_t(claim_.pending.expires) * kUsecPerSecond,
                          100000, on_expiry, this);
    if (r < 0) throw_errno("cannot set the expiry timer", -r);
    expiry_.reset(src);
    sd_event_source_set_priority(src, SD_EVENT_PRIORITY_IMPORTANT - 1);
    r = sd_event_add_time_relative(loop_.get(), &src, CLOCK_MONOTONIC, kUsecPerSecond, kUsecPerSecond / 10,
                                   on_prune, this);
    if (r < 0) throw_errno("cannot set the rate limit's timer", -r);
    prune_.reset(src);
    r = sd_event_add_signal(loop_.get(), &src, SIGTERM, on_sigterm, this);
    if (r < 0) throw_errno("cannot watch for SIGTERM", -r);
    sigterm_.reset(src);
    sd_event_source_set_priority(src, SD_EVENT_PRIORITY_IMPORTANT - 1);
}

void Listener::run() {
    sd_notify(0, "READY=1");
    log_info("serving the pending " + claim_.pending.purpose + " claim until " +
             local_iso_time(claim_.pending.expires));
    if (std::time(nullptr) < claim_.pending.expires) {
        int r = sd_event_loop(loop_.get());
        if (r < 0) {
            // Nothing more can be served: end as if stopped, so that the
            // code goes and the result says so.
            log_error("event loop failed: " + errno_text(-r));
            stopped_ = true;
        }
    }
    join_connections();
    if (!outcome_ && !stopped_) drain_expired();
    record_result();
}

int Listener::on_accept(sd_event_source *, int fd, std::uint32_t, void *userdata) {
    try {
        static_cast<Listener *>(userdata)->accept_one(fd);
    } catch (const std::exception &e) {
        // Nothing may unwind through the loop's C frames; the next
        // connection is taken as usual.
        log_warning(std::string("cannot take a connection: ") + e.what());
    }
    return 0;
}

void Listener::accept_one(int listening_fd) {
    // Nothing is accepted once the claim ended or the code expired: a later
    // connection (say for a newer code) starts a new listener instead.
    if (outcome_ || stopped_) return;
    const std::time_t now = std::time(nullptr);
    if (now >= claim_.pending.expires) {
        sd_event_exit(loop_.get(), 0);
        return;
    }
    sockaddr_storage ss{};
    UniqueFd conn = accept_from(listening_fd, ss);
    if (!conn) return;
    const Source source = source_of(ss);
    const std::string peer = peer_name(ss);
    // Refused connections are closed unanswered, and logged (throttled).
    // Refused attempts count against the rate too (RateLimit::record).
    const auto by_address = rate_.record(source.address, now);
    const auto by_network = network_rate_.record(source.network, now);
    if (by_address == RateLimit::Verdict::limited_now)
        log_warning("rate-limiting " + source.address + ": over " + std::to_string(kRateLimitPerMinute) +
                    " connections a minute");
    if (by_network == RateLimit::Verdict::limited_now)
        log_warning("rate-limiting " + source.network + ": over " + std::to_string(kNetworkRateLimitPerMinute) +
                    " connections a minute from that network");
    if (by_address == RateLimit::Verdict::untracked || by_network == RateLimit::Verdict::untracked)
        return refused(peer, "too many sources seen this minute to track another", now);
    if (by_address != RateLimit::Verdict::allowed || by_network != RateLimit::Verdict::allowed) return;
    switch (slots_.admit(source)) {
    case SlotLimit::Verdict::admitted: break;
    case SlotLimit::Verdict::full:
        return refused(peer, "at capacity: all " + std::to_string(kMaxConcurrent) + " connections in progress", now);
    case SlotLimit::Verdict::network_full:
        return refused(peer, "at capacity for " + source.network + ": " + std::to_string(kMaxConcurrentPerNetwork) +
                                 " connections from that network in progress",
                       now);
    case SlotLimit::Verdict::address_full:
        return refused(peer, "at capacity for that address: " + std::to_string(kMaxConcurrentPerAddress) +
                                 " connections from it in progress",
                       now);
    }
    try {
        connections_.push_back(Served{std::make_unique<ConnectionThread>(
                                          loop_.get(), SD_EVENT_PRIORITY_IMPORTANT, ctx_.get(), holder_,
                                          std::move(conn), peer, source.network,
                                          ConnectionThread::Reports{
                                              [this](ConnectionThread &c, ClaimOutcome o) { claim_ended(c, o); },
                                              [this](ConnectionThread &c) { thread_done(c); },
                                          }),
                                      source});
    } catch (const std::exception &e) {
        // No thread or pipe for it now (a resource limit): this connection
        // is dropped, the next one may find room.
        slots_.release(source);
        log_warning("connection from " + peer + " dropped: " + e.what());
    }
}

void Listener::refused(const std::string &peer, const std::string &why, std::time_t now) {
    std::size_t held_back = 0;
    if (!refusal_log_.due(now, held_back)) return;
    log_warning("refused a connection from " + peer + ": " + why +
                (held_back ? "; " + std::to_string(held_back) + " more refused since the last such line" : ""));
}

void Listener::claim_ended(const ConnectionThread &conn, ClaimOutcome outcome) {
    outcome_ = outcome;
    final_peer_ = conn.peer();
    sd_event_exit(loop_.get(), 0);
}

void Listener::thread_done(const ConnectionThread &conn) {
    std::erase_if(connections_, [&](const Served &c) {
        if (c.thread.get() != &conn) return false;
        slots_.release(c.source);
        return true;
    });
}

int Listener::on_expiry(sd_event_source *, std::uint64_t, void *userdata) {
    sd_event_exit(static_cast<Listener *>(userdata)->loop_.get(), 0);
    return 0;
}

int Listener::on_prune(sd_event_source *s, std::uint64_t, void *userdata) {
    static_cast<Listener *>(userdata)->rate_.prune(std::time(nullptr));
    sd_event_source_set_time_relative(s, kUsecPerSecond);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

int Listener::on_sigterm(sd_event_source *, const struct signalfd_siginfo *, void *userdata) {
    auto *self = static_cast<Listener *>(userdata);
    self->stopped_ = true;
    sd_event_exit(self->loop_.get(), 0);
    return 0;
}

void Listener::join_connections() {
    // Connections in progress finish within their deadlines; a claim that
    // ends meanwhile still counts.
    for (auto &c : connections_)
        if (auto outcome = c.thread->join()) {
            outcome_ = *outcome;
            final_peer_ = c.thread->peer();
        }
    connections_.clear();
}

void Listener::drain_expired() {
    // Expired: whoever is already queued (e.g. the connection that started
    // this listener) hears that there is nothing to claim (the holder's one
    // answer for it, no-pending) rather than silence -- at most kMaxDrained
    // of them, for at most 5 seconds.
    constexpr int kMaxDrained = 16;
    const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int drained = 0;
    for (auto &l : sockets_) {
        pollfd p{l.get(), POLLIN, 0};
        while (drained < kMaxDrained && std::chrono::steady_clock::now() < drain_until && ::poll(&p, 1, 0) == 1) {
            ++drained;
            sockaddr_storage ss{};
            UniqueFd conn = accept_from(l.get(), ss);
            if (!conn) break;
            try {
                TlsConnection tls(ctx_.get(), TlsRole::server, std::move(conn),
                                  Channel::Clock::now() + std::chrono::seconds(3));
                holder_.serve(tls, peer_name(ss), source_of(ss).network);
            } catch (const Error &) {
                // Expired anyway: nothing to tell this client.
            }
        }
    }
}

void Listener::record_result() {
    const std::string &purpose = claim_.pending.purpose;
    if (!outcome_) {
        // Expired (or stopped) without a claim. The file is removed only if
        // it still holds this listener's code: `puddle pair` may have made a
        // newer one meanwhile.
        {
            StateLock guard(dir_);
            std::optional<PairPending> now;
            try {
                now = load_pending(dir_, claim_.file);
            } catch (const Error &e) {
                log_warning("leaving " + dir_.file(claim_.file) + " alone: " + e.why());
            }
            if (now && *now == claim_.pending) dir_.remove(claim_.file);
            else if (now) log_info(dir_.file(claim_.file) + " holds a newer code; left in place");
        }
        write_result(stopped_ ? "stopped" : "expired", "", "");
        log_info("the " + purpose + " code expired unclaimed");
        return;
    }
    switch (*outcome_) {
    case ClaimOutcome::claimed: write_result("claimed", holder_.joiner_host(), final_peer_); break;
    case ClaimOutcome::unacknowledged: write_result("unacknowledged", "", final_peer_); break;
    default: write_result("burned", "", final_peer_); break;
    }
}

void Listener::write_result(const std::string &result, const std::string &host, const std::string &peer) {
    const PairResult record{claim_.pending.purpose, claim_.pending.created, result, host, peer,
                            std::int64_t(std::time(nullptr))};
    try {
        StateLock guard(dir_);
        save_pair_result(dir_, record);
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

void stop_own_socket(const StateDir &dir) {
    if (!std::getenv("LISTEN_FDS") && !std::getenv("INVOCATION_ID")) return; // run by hand
    try {
        // `puddle pair` writes its code and starts the socket under the state
        // lock: holding it from the look to the stop request, a code made
        // meanwhile is either seen here or starts the socket after the stop
        // (the manager replaces or follows the stop job); without it the
        // socket was stopped under a code just made (found by faults-debian12).
        StateLock guard(dir);
        // A newer code is already waiting for the socket: leave it listening,
        // and the next connection starts a new instance for that code.
        if (dir.has(kPairPendingFile) || dir.has(kRekeyPendingFile)) return;
        stop_user_unit("puddle-pair.socket");
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

} // namespace puddle::pair

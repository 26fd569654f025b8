// puddle-pair: the pair listener, a socket-activated user service. It serves
// the one pending claim (pair.pending or rekey.pending) over TLS + CPace,
// never touches the keyring or the agent, and stops its own socket after a
// claim, a burned code, or expiry.
#include "core/config.hpp"
#include "core/identity_store.hpp"
#include "core/names.hpp"
#include "core/state_files.hpp"
#include "pair/holder.hpp"
#include "util/error.hpp"
#include "util/harden.hpp"
#include "util/json.hpp"
#include "util/log.hpp"
#include "util/user_manager.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <malloc.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <ctime>
#include <map>
#include <mutex>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace puddle;
using namespace puddle::pair;

namespace {

constexpr const char *kUsage =
    "usage: puddle-pair [--listen ADDRESS:PORT]\n\n"
    "The puddle pair listener. systemd starts it through puddle-pair.socket, which\n"
    "'puddle pair' starts; it serves the pending claim and stops the socket again.\n\n"
    "  --listen ADDRESS:PORT   listen there instead of on sockets passed by systemd\n";

constexpr int kMaxConcurrent = 8;
// Per source address: at most this many connections per minute.
constexpr int kRateLimitPerMinute = 20;

std::atomic<bool> g_stop{false};

std::string peer_name(const sockaddr_storage &ss) {
    char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
    getnameinfo(reinterpret_cast<const sockaddr *>(&ss), sizeof ss, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    return std::string(host) + ":" + port;
}

std::string peer_address(const sockaddr_storage &ss) {
    char host[NI_MAXHOST] = "?";
    getnameinfo(reinterpret_cast<const sockaddr *>(&ss), sizeof ss, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    return host;
}

UniqueFd listen_on(const std::string &spec) {
    auto colon = spec.rfind(':');
    if (colon == std::string::npos) throw Error(Exit::usage, "--listen " + spec, "expected ADDRESS:PORT");
    std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo *res = nullptr;
    if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0)
        throw Error(Exit::usage, "--listen " + spec, "cannot resolve the address");
    UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int r = ::bind(fd.get(), res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (r != 0 || ::listen(fd.get(), 16) != 0) throw_errno("cannot listen on " + spec, errno);
    return fd;
}

void write_result(const StateDir &dir, const std::string &purpose, const PairPending &p, const std::string &result,
                  const std::string &host, const std::string &peer) {
    auto j = Json::object()
                 .set("v", 1)
                 .set("purpose", purpose)
                 .set("created", p.created)
                 .set("result", result)
                 .set("host", host)
                 .set("peer", peer)
                 .set("at", long(std::time(nullptr)));
    std::string text = j.dump() + "\n";
    try {
        StateLock guard(dir);
        dir.write_atomic(purpose + ".result", as_bytes(text), 0600);
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

void stop_own_socket(const StateDir &dir) {
    if (!std::getenv("LISTEN_FDS") && !std::getenv("INVOCATION_ID")) return; // run by hand
    // A newer code is already waiting for the socket: leave it listening,
    // and the next connection starts a new instance for that code.
    if (dir.has(kPairPendingFile) || dir.has(kRekeyPendingFile)) return;
    try {
        stop_user_unit("puddle-pair.socket");
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

} // namespace

int main(int argc, char **argv) {
    std::string listen_spec;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help") return std::fputs(kUsage, stdout), 0;
        if (a == "--version") return std::printf("puddle-pair %s\n", PUDDLE_VERSION), 0;
        if (a == "--listen" && i + 1 < argc) listen_spec = argv[++i];
        else return std::fprintf(stderr, "puddle-pair: unknown argument '%s'\n%s", a.c_str(), kUsage), 2;
    }
    try {
        harden({"the pair listener", "the pairing code"});
        // One malloc arena per connection thread would stay mapped for good
        // (glibc keeps up to 8 per core); two are plenty for 8 connections.
        // A hint only: glibc returns 0 for a value it does not take.
        if (::mallopt(M_ARENA_MAX, 2) != 1) log_warning("cannot cap the malloc arenas; memory may grow per thread");
        std::signal(SIGPIPE, SIG_IGN);
        std::signal(SIGTERM, [](int) { g_stop = true; });
        std::vector<std::string> warnings;
        auto config = load_config(warnings);
        for (const auto &w : warnings) log_warning(w);
        StateDir dir = StateDir::locate();
        auto *pw = ::getpwuid(::getuid());
        if (!pw) throw Error(Exit::failure, "pair listener", "cannot find the user's name");
        const std::string user = pw->pw_name;

        std::vector<UniqueFd> listeners;
        if (!listen_spec.empty()) listeners.push_back(listen_on(listen_spec));
        else
            for (int i = 0, n = sd_listen_fds(1); i < n; ++i) listeners.emplace_back(SD_LISTEN_FDS_START + i);

        // What is there to claim?
        std::string file, purpose;
        std::optional<PairPending> pending;
        dir.check_safe();
        for (const char *f : {kPairPendingFile, kRekeyPendingFile}) {
            if (!dir.has(f)) continue;
            pending = parse_pair_pending(dir.read(f, kMaxPendingBytes, true), dir.file(f));
            file = f;
            purpose = pending->purpose;
            break;
        }
        if (!pending || listeners.empty()) {
            log_info(pending ? "no listening socket" : "nothing pending to claim; stopping");
            sd_notify(0, "READY=1");
            stop_own_socket(dir);
            return 0;
        }
        if (!IdentityStore(dir).is_member())
            throw Error(Exit::not_initialized, "pair listener", "this envoy holds no identity to hand out");
        auto ctx = make_tls_context(TlsRole::server, config.tls);
        Holder holder(dir, user, local_host_name(), file, *pending, claims_for_payload(load_claims(dir, config)));
        sd_notify(0, "READY=1");
        log_info("serving the pending " + purpose + " claim until " + std::to_string(pending->expires));

        // Wakes the accept loop as soon as a claim ends, so that no later
        // connection (say for a newer code) is taken by this instance.
        int wake[2];
        if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe", errno);
        UniqueFd wake_r(wake[0]), wake_w(wake[1]);
        std::atomic<int> active{0};
        std::atomic<int> final_outcome{-1}; // ClaimOutcome once burned or claimed
        std::string final_peer;
        std::mutex peer_mu;
        // At most kMaxConcurrent connections are served at once, each on a
        // thread that is joined as soon as it ends (an unjoined thread keeps
        // its stack mapped: thousands of short connections once exhausted
        // vm.max_map_count).
        struct Worker {
            std::thread thread;
            std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
        };
        std::vector<Worker> workers;
        auto reap = [&] {
            std::erase_if(workers, [](Worker &w) {
                if (!w.done->load()) return false;
                w.thread.join();
                return true;
            });
        };
        // Per source address, the accept times of the last minute; addresses
        // with none are dropped, and past kMaxTrackedAddresses new ones are
        // refused (the map cannot grow without bound).
        std::map<std::string, std::vector<std::time_t>> recent;
        constexpr std::size_t kMaxTrackedAddresses = 4096;

        while (!g_stop && final_outcome < 0) {
            const std::time_t now = std::time(nullptr);
            if (now >= pending->expires) break;
            reap();
            for (auto it = recent.begin(); it != recent.end();) {
                std::erase_if(it->second, [&](std::time_t t) { return t < now - 60; });
                it = it->second.empty() ? recent.erase(it) : std::next(it);
            }
            std::vector<pollfd> fds;
            for (auto &l : listeners) fds.push_back({l.get(), POLLIN, 0});
            fds.push_back({wake_r.get(), POLLIN, 0});
            int timeout_ms = int(std::min<std::int64_t>(1000, (pending->expires - now) * 1000));
            if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) continue;
            if (final_outcome >= 0) break;
            for (auto &p : fds) {
                if (!(p.revents & POLLIN) || p.fd == wake_r.get()) continue;
                sockaddr_storage ss{};
                socklen_t len = sizeof ss;
                UniqueFd conn(::accept4(p.fd, reinterpret_cast<sockaddr *>(&ss), &len, SOCK_CLOEXEC));
                if (!conn) continue;
                const std::string addr = peer_address(ss), peer = peer_name(ss);
                if (!recent.count(addr) && recent.size() >= kMaxTrackedAddresses) continue; // closed unanswered
                auto &times = recent[addr];
                std::erase_if(times, [&](std::time_t t) { return t < now - 60; });
                if (int(times.size()) >= kRateLimitPerMinute || active >= kMaxConcurrent) {
                    if (times.size() == std::size_t(kRateLimitPerMinute)) log_warning("rate-limiting " + addr);
                    times.push_back(now);
                    continue; // closed unanswered
                }
                times.push_back(now);
                ++active;
                Worker w;
                auto done = w.done;
                w.thread = std::thread([&, fd = conn.release(), peer, done]() mutable {
                    try {
                        TlsConnection tls(ctx.get(), TlsRole::server, UniqueFd(fd),
                                          Channel::Clock::now() + Channel::kMessageTimeout);
                        auto outcome = holder.serve(tls, peer);
                        if (outcome != ClaimOutcome::untouched) {
                            std::lock_guard lock(peer_mu);
                            final_peer = peer;
                            final_outcome = int(outcome);
                            (void)!::write(wake_w.get(), "x", 1);
                        }
                        tls.shutdown();
                    } catch (const Error &e) {
                        log_info("connection from " + peer + " dropped: " + e.why());
                    }
                    --active;
                    done->store(true);
                });
                workers.push_back(std::move(w));
            }
        }
        for (auto &w : workers) w.thread.join();
        if (final_outcome < 0 && !g_stop) {
            // Expired: whoever is already queued (e.g. the connection that
            // started this listener) hears "expired" rather than silence --
            // at most kMaxDrained of them, for at most 5 seconds.
            constexpr int kMaxDrained = 16;
            const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            int drained = 0;
            for (auto &l : listeners) {
                pollfd p{l.get(), POLLIN, 0};
                while (drained < kMaxDrained && std::chrono::steady_clock::now() < drain_until &&
                       ::poll(&p, 1, 0) == 1) {
                    ++drained;
                    sockaddr_storage ss{};
                    socklen_t len = sizeof ss;
                    UniqueFd conn(::accept4(l.get(), reinterpret_cast<sockaddr *>(&ss), &len, SOCK_CLOEXEC));
                    if (!conn) break;
                    try {
                        TlsConnection tls(ctx.get(), TlsRole::server, std::move(conn),
                                          Channel::Clock::now() + std::chrono::seconds(3));
                        holder.serve(tls, peer_name(ss));
                    } catch (const Error &) {
                    }
                }
            }
        }
        if (final_outcome < 0) {
            // Expired (or stopped) without a claim. The file is removed only
            // if it still holds this listener's code: `puddle pair` may have
            // made a newer one meanwhile.
            {
                StateLock guard(dir);
                std::optional<PairPending> now;
                try {
                    if (dir.has(file)) now = parse_pair_pending(dir.read(file, kMaxPendingBytes, true), dir.file(file));
                } catch (const Error &e) {
                    log_warning("leaving " + dir.file(file) + " alone: " + e.why());
                }
                if (now && *now == *pending) dir.remove(file);
                else if (now) log_info(dir.file(file) + " holds a newer code; left in place");
            }
            write_result(dir, purpose, *pending, g_stop ? "stopped" : "expired", "", "");
            log_info("the " + purpose + " code expired unclaimed");
        } else if (final_outcome == int(ClaimOutcome::claimed)) {
            write_result(dir, purpose, *pending, "claimed", holder.joiner_host(), final_peer);
        } else if (final_outcome == int(ClaimOutcome::unacknowledged)) {
            write_result(dir, purpose, *pending, "unacknowledged", "", final_peer);
        } else {
            write_result(dir, purpose, *pending, "burned", "", final_peer);
        }
        stop_own_socket(dir);
        return 0;
    } catch (const Error &e) {
        log_error(e.what() + (e.hint().empty() ? std::string() : " (" + e.hint() + ")"));
        try {
            stop_own_socket(StateDir::locate());
        } catch (const Error &) {
        }
        return int(e.code());
    } catch (const std::exception &e) {
        log_error(std::string("fatal: ") + e.what());
        return 1;
    }
}

#include "agent/stream_door.hpp"

#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 // Linux 6.5; older kernels answer ENOPROTOOPT
#endif

namespace puddle::agent {
namespace {

constexpr std::size_t kMaxConnections = 1024;
// A connection with no request in progress for [agent]
// connection_idle_seconds is closed (idle clients must not hold the door's
// slots for ever); checked this often, or more often for a shorter limit.
constexpr std::uint64_t kIdleScanUsec = 10 * 1000000ull;
constexpr std::size_t kReadChunk = 65536;
// Read no further while this much input awaits processing (a request may be
// at most this long in any of the protocols), nor while a client leaves
// this many reply bytes unread.
constexpr std::size_t kMaxPendingInput = 512 * 1024;
constexpr std::size_t kMaxPendingOutput = 1 << 20;

} // namespace

StreamDoor::StreamDoor(sd_event *loop, Service &service, Authorizer &authorizer, UniqueFd listen_fd,
                       std::function<void()> activity, std::string name)
    : service_(service), loop_(loop), authorizer_(authorizer), listen_fd_(std::move(listen_fd)),
      activity_(std::move(activity)), name_(std::move(name)) {
    sd_event_source *src = nullptr;
    int r = sd_event_add_io(loop_, &src, listen_fd_.get(), EPOLLIN, on_accept, this);
    if (r < 0) throw_errno("cannot watch " + name_, -r);
    listen_source_.reset(src);
}

StreamDoor::~StreamDoor() = default;

int StreamDoor::on_accept(sd_event_source *, int, std::uint32_t, void *userdata) {
    static_cast<StreamDoor *>(userdata)->accept_one();
    return 0;
}

void StreamDoor::accept_one() {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warning("accept on " + name_ + " failed: " + errno_text(errno));
        return;
    }
    if (activity_) activity_();
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        log_warning("cannot read the peer credentials of a client of " + name_ + ": " + errno_text(errno));
        return;
    }
    auto reject = [&](const std::string &reply) {
        (void)!::send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    };
    if (cred.uid != ::getuid()) {
        log_warning("refused a connection from uid " + std::to_string(cred.uid) + " (pid " +
                    std::to_string(cred.pid) + ") on " + name_ + ": not this agent's user");
        reject(foreign_uid_reply("only uid " + std::to_string(::getuid()) + " may use this agent"));
        return;
    }
    if (conns_.size() >= kMaxConnections && !evict_idlest()) {
        log_warning("refused a connection on " + name_ + ": " + std::to_string(kMaxConnections) +
                    " connections are open and all are busy");
        reject(failure_reply(AgentError(Failure::busy, std::to_string(kMaxConnections) +
                                                           " connections are busy; try again")));
        return;
    }
    int pidfd = -1;
    len = sizeof pidfd;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) pidfd = -1;
    auto c = std::make_shared<Conn>();
    c->ctx.peer = make_peer(cred.pid, cred.uid, pidfd);
    sd_event_source *src = nullptr;
    if (sd_event_add_io(loop_, &src, fd.get(), EPOLLIN, on_io, this) < 0) return;
    c->source.reset(src);
    int key = fd.get();
    c->fd = std::move(fd);
    c->last_active = now_usec(CLOCK_MONOTONIC);
    conns_.emplace(key, std::move(c));
    arm_idle_scan();
}

std::uint64_t StreamDoor::idle_close_usec() const {
    return std::uint64_t(service_.config().agent.connection_idle_seconds) * 1000000;
}

std::uint64_t StreamDoor::scan_usec() const { return std::min(kIdleScanUsec, idle_close_usec() / 2 + 1); }

bool StreamDoor::idle(const Conn &c) { return !c.waiting && c.out.empty() && c.consumed == c.in.size(); }

bool StreamDoor::evict_idlest() {
    auto victim = conns_.end();
    for (auto it = conns_.begin(); it != conns_.end(); ++it)
        if (idle(*it->second) && (victim == conns_.end() || it->second->last_active < victim->second->last_active))
            victim = it;
    if (victim == conns_.end()) return false;
    log_warning("closed the longest-idle connection on " + name_ + " (pid " + std::to_string(victim->second->ctx.peer.pid) +
                ") to make room: " + std::to_string(kMaxConnections) + " connections are open");
    conns_.erase(victim);
    return true;
}

void StreamDoor::arm_idle_scan() {
    if (idle_scan_) return;
    sd_event_source *src = nullptr;
    if (sd_event_add_time_relative(loop_, &src, CLOCK_MONOTONIC, scan_usec(), 100000, on_idle_scan, this) >= 0)
        idle_scan_.reset(src);
}

int StreamDoor::on_idle_scan(sd_event_source *s, std::uint64_t, void *userdata) {
    auto *self = static_cast<StreamDoor *>(userdata);
    const std::uint64_t now = now_usec(CLOCK_MONOTONIC);
    const std::uint64_t limit = self->idle_close_usec();
    std::size_t closed = 0;
    for (auto it = self->conns_.begin(); it != self->conns_.end();) {
        if (idle(*it->second) && now - it->second->last_active > limit) {
            it = self->conns_.erase(it);
            ++closed;
        } else {
            ++it;
        }
    }
    if (closed)
        log_info("closed " + std::to_string(closed) + " connection(s) on " + self->name_ + " idle for over " +
                 std::to_string(limit / 1000000) + " s");
    if (self->conns_.empty()) {
        self->idle_scan_.reset();
        return 0;
    }
    sd_event_source_set_time_relative(s, self->scan_usec());
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

int StreamDoor::on_io(sd_event_source *, int fd, std::uint32_t events, void *userdata) {
    auto *self = static_cast<StreamDoor *>(userdata);
    auto it = self->conns_.find(fd);
    if (it == self->conns_.end()) return 0;
    ConnPtr c = it->second;
    c->last_active = now_usec(CLOCK_MONOTONIC);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[kReadChunk];
        bool eof = false;
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                c->in.append(buf, std::size_t(n));
                if (c->in.size() - c->consumed > kMaxPendingInput || std::size_t(n) < sizeof buf) break;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            eof = true; // peer closed (or half-closed) its side, or an error
            break;
        }
        if (self->activity_) self->activity_();
        self->process(c);
        // A client may send its requests and shut its side down; it still
        // gets the replies (a best-effort write) before we close.
        if (eof) {
            c->close_after_flush = true;
            if (c->waiting) {
                // The pending reply settles the connection. Until then stop
                // watching it: a hung-up socket reports EPOLLHUP whatever
                // events are asked for, and the loop would spin on it.
                sd_event_source_set_enabled(c->source.get(), SD_EVENT_OFF);
                return 0;
            }
        }
    }
    self->settle(c);
    return 0;
}

void StreamDoor::process(const ConnPtr &c) {
    while (!c->waiting && !c->close_after_flush) {
        auto step = next_request(std::string_view(c->in).substr(c->consumed));
        if (!step) break;
        c->consumed += step->consumed;
        c->out += step->reply;
        if (step->close) c->close_after_flush = true;
        if (!step->request) continue;
        std::weak_ptr<Conn> weak = c;
        auto verdict = authorizer_.check(c->ctx.peer, action_of(*step->request), c->cache,
                                         [this, weak, step = *step](Verdict v) {
            auto conn = weak.lock();
            if (!conn) return;
            conn->waiting = false;
            decided(conn, step, std::move(v));
            if (conn->waiting) return;
            process(conn);
            settle(conn);
        });
        if (verdict) decided(c, *step, std::move(*verdict));
        else c->waiting = true;
    }
    if (c->close_after_flush || c->consumed == c->in.size()) {
        c->in.clear();
        c->consumed = 0;
    } else if (c->consumed > kReadChunk) {
        c->in.erase(0, c->consumed);
        c->consumed = 0;
    }
}

Action action_of(const Request &request) {
    struct Of {
        Action operator()(const SignRequest &) const { return Action::sign; }
        Action operator()(const ssh::SignRequest &) const { return Action::sign; }
        Action operator()(const LockRequest &) const { return Action::lock; }
        Action operator()(const StatusRequest &) const { return Action::status; }
        Action operator()(const PubkeyRequest &) const { return Action::status; }
        Action operator()(const ssh::RequestIdentities &) const { return Action::status; }
        // Tells the agent where the connection's logins go; grants nothing
        // (as with OpenSSH's agent, no authorization beyond the uid).
        Action operator()(const ssh::SessionBind &) const { return Action::status; }
    };
    return std::visit(Of{}, request);
}

void StreamDoor::decided(const ConnPtr &c, const Step &step, Verdict verdict, int stage) {
    // Each stage may ask the user; the connection then waits and the answer
    // comes back here at the next stage.
    auto later = [this, weak = std::weak_ptr<Conn>(c), step](int next) {
        return [this, weak, step, next](Verdict answer) {
            auto conn = weak.lock();
            if (!conn) return;
            conn->waiting = false;
            decided(conn, step, std::move(answer), next);
            if (conn->waiting) return;
            process(conn);
            settle(conn);
        };
    };
    if (verdict.allowed && stage < 2 && (service_.consent_asks() || service_.config().agent.unlock_on_request) &&
        !refused_anyway(*step.request, c->ctx)) {
        if (auto use = use_of(*step.request, c->ctx)) {
            std::optional<Verdict> now;
            if (stage == 0 && !(now = service_.unlock_first(*use, later(1)))) {
                c->waiting = true;
                return;
            }
            if (!(now = service_.consent(*use, later(2)))) {
                c->waiting = true;
                return;
            }
            verdict = std::move(*now);
        }
    }
    execute(*c, step, verdict);
}

void StreamDoor::execute(Conn &c, const Step &step, const Verdict &verdict) {
    try {
        if (!verdict.allowed) {
            const AgentError refusal = denial(verdict);
            if (auto use = use_of(*step.request, c.ctx)) service_.record_refusal(*use, refusal);
            throw refusal;
        }
        c.out += handle(*step.request, c.ctx);
    } catch (const AgentError &e) {
        c.out += failure_reply(e);
    } catch (const std::exception &e) {
        log_error(std::string("request on ") + name_ + " failed: " + e.what());
        c.out += failure_reply(AgentError(Failure::internal, "internal error; see the agent's log"));
    }
}

bool StreamDoor::flush(Conn &c) {
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return true;
            return false;
        }
        c.out.erase(0, std::size_t(n));
    }
    return !c.close_after_flush;
}

void StreamDoor::settle(const ConnPtr &c) {
    if (!flush(*c)) {
        conns_.erase(c->fd.get());
        return;
    }
    std::uint32_t ev = 0;
    if (!c->waiting && !c->close_after_flush && c->out.size() < kMaxPendingOutput &&
        c->in.size() - c->consumed <= kMaxPendingInput)
        ev |= EPOLLIN;
    if (!c->out.empty()) ev |= EPOLLOUT;
    sd_event_source_set_io_events(c->source.get(), ev);
}

} // namespace puddle::agent

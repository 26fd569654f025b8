#include "agent/stream_door.hpp"

#include "agent/requester.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/syscall.h>
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
    // The kernel then attaches the sender's credentials to every message on
    // the accepted sockets (they inherit the option), whatever the client
    // sends: OpenSSH and every other client stay as they are. A socket unit
    // sets it too (PassCredentials=), before the agent runs.
    const int on = 1;
    if (::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
        log_warning("cannot set SO_PASSCRED on " + name_ + ": " + errno_text(errno) +
                    "; requests whose sender cannot be told are refused");
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
        reject(failure_reply(told(Failure::busy, std::to_string(kMaxConnections) +
                                                     " connections are busy; try again")));
        return;
    }
    // The process that connected, pinned: the kernel's pidfd of the peer
    // (Linux 6.5), else one opened now, before make_peer reads its start
    // time, so that both name one process.
    int pidfd = -1;
    len = sizeof pidfd;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) pidfd = -1;
    if (pidfd < 0 && cred.pid > 0) pidfd = int(::syscall(SYS_pidfd_open, cred.pid, 0));
    const int on = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
        log_warning("cannot set SO_PASSCRED on a connection to " + name_ + ": " + errno_text(errno));
    auto c = std::make_shared<Conn>();
    c->ctx.peer = make_peer(cred.pid, cred.uid, pidfd);
    // Described now, not at its first request: by then the process could
    // have become another program (exec) or handed the socket to another.
    describe_peer(c->ctx.peer);
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
        const bool eof = !self->receive(*c);
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

bool StreamDoor::receive(Conn &c) {
    char buf[kReadChunk];
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
    for (;;) {
        struct iovec iov {buf, sizeof buf};
        struct msghdr msg {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        // With SO_PASSCRED the kernel never hands out bytes of two senders
        // in one read, and names the sender of these.
        ssize_t n = ::recvmsg(c.fd.get(), &msg, MSG_CMSG_CLOEXEC);
        if (n > 0) {
            std::optional<struct ucred> sender;
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
                    h->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                    struct ucred u;
                    std::memcpy(&u, CMSG_DATA(h), sizeof u);
                    sender = u;
                } else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
                    // Nobody passes this agent descriptors: close any that fit.
                    const std::size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                    for (std::size_t i = 0; i < count; ++i) {
                        int passed;
                        std::memcpy(&passed, CMSG_DATA(h) + i * sizeof(int), sizeof passed);
                        ::close(passed);
                    }
                }
            // No credentials, or another process's: the bytes are not the
            // connecting process's, whatever they say.
            if (!c.stranger && (!sender || sender->pid != c.ctx.peer.pid || sender->uid != c.ctx.peer.uid))
                c.stranger = sender ? sender->pid : 0;
            c.in.append(buf, std::size_t(n));
            if (c.in.size() - c.consumed > kMaxPendingInput || std::size_t(n) < sizeof buf) return true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return true;
        return false; // peer closed (or half-closed) its side, or an error
    }
}

void StreamDoor::process(const ConnPtr &c) {
    while (!c->waiting && !c->close_after_flush) {
        auto step = next_request(std::string_view(c->in).substr(c->consumed));
        if (!step) break;
        c->consumed += step->consumed;
        c->out += step->reply;
        if (step->close) c->close_after_flush = true;
        if (step->request) take(c, *step);
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

void StreamDoor::take(const ConnPtr &c, const Step &step) {
    auto facts = std::make_shared<Facts>(facts_of(*step.request, c->ctx));
    // The request must be the connecting process's, and that process still
    // the program it was at accept; else it is refused without asking
    // anyone (polkit's subject, consent's question would name the wrong
    // process), and the connection closes: its bytes cannot be trusted.
    const pid_t sender = c->stranger ? *c->stranger : c->ctx.peer.pid;
    if (auto why = requester_changed(c->ctx.peer, sender); !why.empty()) {
        log_warning("refused a request on " + name_ + ": " + why);
        if (facts->use && c->stranger && *c->stranger > 0) facts->use->who = describe_requester(*c->stranger);
        facts->refusal = told(Failure::denied, "refused: " + why);
        c->close_after_flush = true;
        execute(*c, step, *facts, Verdict{true, {}});
        return;
    }
    auto verdict = authorizer_.check(c->ctx.peer, action_of(*step.request), c->cache, resume(c, step, facts, false));
    if (verdict) decided(c, step, facts, std::move(*verdict));
    else c->waiting = true;
}

std::function<void(Verdict)> StreamDoor::resume(const ConnPtr &c, const Step &step,
                                                std::shared_ptr<const Facts> facts, bool approved) {
    return [this, weak = std::weak_ptr<Conn>(c), step, facts = std::move(facts), approved](Verdict v) {
        auto conn = weak.lock();
        if (!conn) return;
        conn->waiting = false;
        if (approved) execute(*conn, step, *facts, v);
        else decided(conn, step, facts, std::move(v));
        if (conn->waiting) return;
        process(conn);
        settle(conn);
    };
}

void StreamDoor::decided(const ConnPtr &c, const Step &step, const std::shared_ptr<const Facts> &facts,
                         Verdict verdict) {
    // A request refused anyway asks nobody.
    if (verdict.allowed && facts->use && !facts->refusal && service_.approval_asks()) {
        auto now = service_.approve(*facts->use, resume(c, step, facts, true));
        if (!now) {
            c->waiting = true;
            return;
        }
        verdict = std::move(*now);
    }
    execute(*c, step, *facts, verdict);
}

void StreamDoor::execute(Conn &c, const Step &step, const Facts &facts, const Verdict &verdict) {
    try {
        std::optional<Error> refusal = facts.refusal;
        if (!verdict.allowed) refusal = denial(verdict); // polkit's or the user's refusal first
        if (refusal) {
            if (facts.use) service_.record_refusal(*facts.use, *refusal);
            throw *refusal;
        }
        c.out += handle(*step.request, c.ctx, facts);
    } catch (const Error &e) {
        if (e.is_told()) {
            c.out += failure_reply(e);
            return;
        }
        log_error(std::string("request on ") + name_ + " failed: " + e.what());
        c.out += failure_reply(told(Failure::internal, "internal error; see the agent's log"));
    } catch (const std::exception &e) {
        log_error(std::string("request on ") + name_ + " failed: " + e.what());
        c.out += failure_reply(told(Failure::internal, "internal error; see the agent's log"));
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

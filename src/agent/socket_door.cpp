#include "agent/socket_door.hpp"

#include "util/error.hpp"
#include "util/json.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 // Linux 6.5; older kernels answer ENOPROTOOPT
#endif

namespace puddle::agent {
namespace {

constexpr std::size_t kMaxConnections = 1024;
constexpr std::size_t kReadChunk = 65536;
// Stop reading from a client that does not read its replies.
constexpr std::size_t kMaxPendingOutput = 1 << 20;

ErrCode to_err(Failure f) {
    switch (f) {
    case Failure::locked: return ErrCode::locked;
    case Failure::not_initialized: return ErrCode::not_initialized;
    case Failure::reserved_prefix: return ErrCode::reserved_prefix;
    case Failure::denied: return ErrCode::denied;
    case Failure::bad_passphrase:
    case Failure::invalid_argument: return ErrCode::bad_request;
    case Failure::internal: return ErrCode::internal;
    }
    return ErrCode::internal;
}

Action action_of(const LineRequest &r) {
    if (std::holds_alternative<SignRequest>(r)) return Action::sign;
    if (std::holds_alternative<LockRequest>(r)) return Action::lock;
    return Action::status;
}

} // namespace

SocketDoor::SocketDoor(sd_event *loop, Service &service, Authorizer &authorizer, UniqueFd listen_fd,
                       std::function<void()> activity)
    : loop_(loop), service_(service), authorizer_(authorizer), listen_fd_(std::move(listen_fd)),
      activity_(std::move(activity)) {
    sd_event_source *src = nullptr;
    int r = sd_event_add_io(loop_, &src, listen_fd_.get(), EPOLLIN, on_accept, this);
    if (r < 0) throw_errno("cannot watch the agent socket", -r);
    listen_source_.reset(src);
}

int SocketDoor::on_accept(sd_event_source *, int, std::uint32_t, void *userdata) {
    static_cast<SocketDoor *>(userdata)->accept_one();
    return 0;
}

void SocketDoor::accept_one() {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warning("accept on agent.sock failed: " + errno_text(errno));
        return;
    }
    if (activity_) activity_();
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        log_warning("cannot read the peer credentials of a client: " + errno_text(errno));
        return;
    }
    auto reject = [&](ErrCode code, const std::string &text) {
        std::string reply = format_err(code, text);
        (void)!::send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    };
    if (cred.uid != ::getuid()) {
        log_warning("refused a connection from uid " + std::to_string(cred.uid) + " (pid " +
                    std::to_string(cred.pid) + "): not this agent's user");
        reject(ErrCode::denied, "only uid " + std::to_string(::getuid()) + " may use this agent");
        return;
    }
    if (conns_.size() >= kMaxConnections) {
        reject(ErrCode::internal, "too many connections");
        return;
    }
    int pidfd = -1;
    len = sizeof pidfd;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) pidfd = -1;
    auto c = std::make_shared<Conn>();
    c->peer = make_peer(cred.pid, cred.uid, pidfd);
    sd_event_source *src = nullptr;
    if (sd_event_add_io(loop_, &src, fd.get(), EPOLLIN, on_io, this) < 0) return;
    c->source.reset(src);
    int key = fd.get();
    c->fd = std::move(fd);
    conns_.emplace(key, std::move(c));
}

int SocketDoor::on_io(sd_event_source *, int fd, std::uint32_t events, void *userdata) {
    auto *self = static_cast<SocketDoor *>(userdata);
    auto it = self->conns_.find(fd);
    if (it == self->conns_.end()) return 0;
    ConnPtr c = it->second;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[kReadChunk];
        bool eof = false;
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                c->in.append(buf, std::size_t(n));
                if (c->in.size() - c->consumed > kMaxLineBytes + 1 || std::size_t(n) < sizeof buf) break;
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
            if (c->waiting) return 0; // the pending reply settles the connection
        }
    }
    self->settle(c);
    return 0;
}

void SocketDoor::process(const ConnPtr &c) {
    while (!c->waiting && !c->close_after_flush) {
        auto nl = c->in.find('\n', c->consumed);
        if (nl == std::string::npos) break;
        auto request = parse_line(std::string_view(c->in).substr(c->consumed, nl - c->consumed));
        c->consumed = nl + 1;
        if (auto *err = std::get_if<LineError>(&request)) {
            c->out += format_err(err->code, err->text);
            if (err->code == ErrCode::too_large) c->close_after_flush = true;
            continue;
        }
        std::weak_ptr<Conn> weak = c;
        auto decided = authorizer_.check(c->peer, action_of(request), c->cache,
                                         [this, weak, request](Verdict v) {
                                             auto conn = weak.lock();
                                             if (!conn) return;
                                             conn->waiting = false;
                                             execute(*conn, request, v);
                                             process(conn);
                                             settle(conn);
                                         });
        if (decided) execute(*c, request, *decided);
        else c->waiting = true;
    }
    if (c->consumed == c->in.size()) {
        c->in.clear();
        c->consumed = 0;
    } else if (c->consumed > kReadChunk) {
        c->in.erase(0, c->consumed);
        c->consumed = 0;
    }
    if (!c->waiting && !c->close_after_flush && c->in.size() - c->consumed > kMaxLineBytes) {
        c->out += format_err(ErrCode::too_large, "line exceeds " + std::to_string(kMaxLineBytes) + " bytes");
        c->close_after_flush = true;
    }
    if (c->close_after_flush) {
        c->in.clear();
        c->consumed = 0;
    }
}

void SocketDoor::execute(Conn &c, const LineRequest &request, const Verdict &verdict) {
    if (!verdict.allowed) {
        c.out += format_err(ErrCode::denied, verdict.why);
        return;
    }
    try {
        c.out += act(c, request);
    } catch (const AgentError &e) {
        c.out += format_err(to_err(e.failure()), e.what());
    } catch (const std::exception &e) {
        log_error(std::string("request failed: ") + e.what());
        c.out += format_err(ErrCode::internal, "internal error; see the agent's log");
    }
}

std::string SocketDoor::act(Conn &, const LineRequest &request) {
    if (auto *s = std::get_if<SignRequest>(&request)) return format_ok(to_base64(service_.sign(s->data)));
    if (std::holds_alternative<StatusRequest>(request)) {
        auto s = service_.status(true);
        auto j = Json::object()
                     .set("unlocked", s.unlocked)
                     .set("pubkey", s.pubkey)
                     .set("lock_deadline", s.lock_deadline_usec / 1000000)
                     .set("idle_timeout_s", s.idle_timeout_usec / 1000000)
                     .set("watch_pid", long(s.watch_pid));
        return format_ok(j.dump());
    }
    if (std::holds_alternative<PubkeyRequest>(request)) return format_ok(service_.pubkey());
    service_.lock();
    return format_ok();
}

bool SocketDoor::flush(Conn &c) {
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

void SocketDoor::settle(const ConnPtr &c) {
    if (!flush(*c)) {
        conns_.erase(c->fd.get());
        return;
    }
    std::uint32_t ev = 0;
    if (!c->waiting && !c->close_after_flush && c->out.size() < kMaxPendingOutput) ev |= EPOLLIN;
    if (!c->out.empty()) ev |= EPOLLOUT;
    sd_event_source_set_io_events(c->source.get(), ev);
}

} // namespace puddle::agent

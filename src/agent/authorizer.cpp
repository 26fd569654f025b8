#include "agent/authorizer.hpp"

#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/proc.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <time.h>
#include <unistd.h>

namespace puddle::agent {
namespace {

constexpr std::uint64_t kCacheUsec = 1000000;
// D-Bus's own default: a polkitd starved of CPU (32 busy clients on two
// cores) has been seen to take over 10 s; a timeout is for a polkitd that
// is gone, not one that is slow.
constexpr std::uint64_t kPolkitTimeoutUsec = 25 * 1000000;

std::uint64_t now_monotonic() { return now_usec(CLOCK_MONOTONIC); }

} // namespace

const char *polkit_action_id(Action a) {
    switch (a) {
    case Action::sign: return "org.puddle.sign";
    case Action::unlock: return "org.puddle.unlock";
    case Action::lock: return "org.puddle.lock";
    case Action::status: return nullptr;
    case Action::manage: return "org.puddle.manage";
    }
    return nullptr;
}

Peer make_peer(pid_t pid, uid_t uid, int pidfd) {
    Peer p;
    p.pid = pid;
    p.uid = uid;
    p.start_time = pid > 0 ? process_start_time(pid) : 0;
    if (pidfd >= 0) p.pidfd = std::make_shared<UniqueFd>(pidfd);
    return p;
}

struct Authorizer::Pending {
    Authorizer *self;
    Peer peer;
    Action action;
    std::weak_ptr<AuthzCache> cache;
    std::function<void(Verdict)> done;
    std::uint64_t queued_until = 0; // CLOCK_MONOTONIC µs; set when it has to wait
};

namespace {

// The errors that mean "no polkit on this system", as opposed to "polkit (or
// the bus) could not answer this request".
bool polkit_absent_error(const char *name) {
    return name && (std::strcmp(name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 ||
                    std::strcmp(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0);
}

Verdict deny_unanswered(Action action, const std::string &why) {
    return Verdict{false, std::string("polkit could not decide on ") + polkit_action_id(action) + " (" + why +
                              "); denied, try again"};
}

} // namespace

Authorizer::Authorizer(sd_event *loop, PolkitMode mode) : loop_(loop), mode_(mode), own_uid_(::getuid()) {}

Authorizer::~Authorizer() {
    // Closing the bus destroys the pending calls' slots (on_destroy); no
    // queued request may be sent from there.
    closing_ = true;
    pump_source_.reset();
    bus_.reset();
    queue_.clear();
}

sd_bus *Authorizer::system_bus() {
    if (bus_ && sd_bus_is_open(bus_.get()) > 0) return bus_.get();
    bus_.reset();
    sd_bus *b = nullptr;
    if (sd_bus_open_system(&b) < 0) return nullptr;
    if (sd_bus_attach_event(b, loop_, SD_EVENT_PRIORITY_NORMAL) < 0) {
        sd_bus_unref(b);
        return nullptr;
    }
    bus_.reset(b);
    return b;
}

Verdict Authorizer::absent(Action action, const std::string &why, bool found_now) {
    // Only a fresh finding starts the window; answering from it must not
    // extend it, or steady traffic would never ask polkit again.
    if (found_now) absent_until_ = now_monotonic() + 3 * kCacheUsec;
    if (mode_ == PolkitMode::required)
        return Verdict{false, std::string("polkit is required for ") + polkit_action_id(action) +
                                  " but is not available: " + why};
    if (!warned_) {
        log_warning("polkit is not available (" + why + "); falling back to the uid check (polkit = \"auto\")");
        warned_ = true;
    }
    return Verdict{true, {}};
}

std::optional<Verdict> Authorizer::check(const Peer &peer, Action action, const std::shared_ptr<AuthzCache> &cache,
                                         std::function<void(Verdict)> done) {
    if (peer.uid != own_uid_)
        return Verdict{false, "only uid " + std::to_string(own_uid_) + " may use this agent, not uid " +
                                  std::to_string(peer.uid)};
    const char *action_id = polkit_action_id(action);
    if (!action_id || mode_ == PolkitMode::off) return Verdict{true, {}};
    if (cache && cache->allowed_until[std::size_t(action)] > now_monotonic()) return Verdict{true, {}};
    if (absent_until_ > now_monotonic()) return absent(action, "not there a moment ago", false);
    if (!system_bus()) return absent(action, "no system bus");
    if (peer.pid <= 0 || peer.start_time == 0) return Verdict{false, "cannot identify the calling process for polkit"};

    auto p = std::make_unique<Pending>(Pending{this, peer, action, cache, std::move(done)});
    if (in_flight_ >= kMaxInFlight) {
        if (queue_.size() >= kMaxQueued) {
            log_warning("refused a request: " + std::to_string(kMaxQueued) + " authorization checks already waiting");
            return Verdict{false, "too many requests are waiting for polkit (" + std::to_string(kMaxQueued) +
                                      "); try again"};
        }
        p->queued_until = now_monotonic() + kMaxQueuedUsec;
        queue_.push_back(std::move(p));
        return std::nullopt;
    }
    return send(std::move(p));
}

std::optional<Verdict> Authorizer::send(std::unique_ptr<Pending> p) {
    const Peer &peer = p->peer;
    const Action action = p->action;
    sd_bus *bus = system_bus();
    if (!bus) return absent(action, "no system bus");
    if (peer.pidfd && *peer.pidfd && !pidfd_matches(peer.pidfd->get(), peer.pid))
        return Verdict{false, std::string("the process that asked for ") + polkit_action_id(action) +
                                  " is gone; denied"};

    sd_bus_message *raw = nullptr;
    int r = sd_bus_message_new_method_call(bus, &raw, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
    if (r < 0) return deny_unanswered(action, "cannot build the request: " + errno_text(-r));
    SdBusMessage m(raw);
    // Subject: the calling process as pid + start time + uid, which every
    // polkit understands; plus its pidfd where the kernel gave us one, which
    // newer polkit (124 and later) prefers and older polkit ignores.
    const bool with_pidfd = peer.pidfd && *peer.pidfd;
    r = sd_bus_message_open_container(m.get(), 'r', "sa{sv}");
    if (r >= 0) r = sd_bus_message_append(m.get(), "s", "unix-process");
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "{sv}");
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "pid", "u", std::uint32_t(peer.pid));
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "start-time", "t", peer.start_time);
    if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "uid", "i", std::int32_t(peer.uid));
    if (r >= 0 && with_pidfd) r = sd_bus_message_append(m.get(), "{sv}", "pidfd", "h", peer.pidfd->get());
    if (r >= 0) r = sd_bus_message_close_container(m.get());
    if (r >= 0) r = sd_bus_message_close_container(m.get());
    // action, no details, no user interaction (the agent has no terminal), no cancellation id
    if (r >= 0) r = sd_bus_message_append(m.get(), "sa{ss}us", polkit_action_id(action), 0, 0u, "");
    if (r < 0) return deny_unanswered(action, "cannot build the request: " + errno_text(-r));

    Pending *raw_p = p.release();
    sd_bus_slot *s = nullptr;
    r = sd_bus_call_async(bus, &s, m.get(), on_reply, raw_p, kPolkitTimeoutUsec);
    if (r < 0) {
        delete raw_p;
        // A connection the bus dropped is opened again by the next check.
        if (r == -ENOTCONN || r == -ECONNRESET) bus_.reset();
        return deny_unanswered(action, "cannot send the request: " + errno_text(-r));
    }
    ++in_flight_;
    sd_bus_slot_set_destroy_callback(s, on_destroy);
    sd_bus_slot_set_floating(s, 1);
    sd_bus_slot_unref(s);
    return std::nullopt;
}

void Authorizer::on_destroy(void *userdata) {
    auto *p = static_cast<Pending *>(userdata);
    Authorizer *self = p->self;
    delete p;
    if (self->closing_) return;
    --self->in_flight_;
    // Not from inside sd-bus's slot teardown: the next one goes out from
    // the loop.
    if (!self->queue_.empty()) {
        if (!self->pump_source_) {
            sd_event_source *src = nullptr;
            if (sd_event_add_defer(self->loop_, &src, on_pump, self) >= 0) self->pump_source_.reset(src);
        } else {
            sd_event_source_set_enabled(self->pump_source_.get(), SD_EVENT_ONESHOT);
        }
    }
}

int Authorizer::on_pump(sd_event_source *s, void *userdata) {
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    static_cast<Authorizer *>(userdata)->pump();
    return 0;
}

void Authorizer::pump() {
    while (in_flight_ < kMaxInFlight && !queue_.empty()) {
        auto p = std::move(queue_.front());
        queue_.pop_front();
        auto done = p->done;
        if (p->queued_until < now_monotonic()) {
            // polkitd is that far behind: the caller has waited long enough.
            Verdict v = deny_unanswered(p->action, "it did not get to the request within " +
                                                       std::to_string(kMaxQueuedUsec / 1000000) + " s");
            log_info(v.why);
            done(std::move(v));
            continue;
        }
        if (auto v = send(std::move(p))) done(std::move(*v));
    }
}

int Authorizer::on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *) {
    auto *p = static_cast<Pending *>(userdata);
    Authorizer *self = p->self;
    const char *action_id = polkit_action_id(p->action);
    Verdict v;
    if (const sd_bus_error *e = sd_bus_message_get_error(reply)) {
        std::string why = std::string(e->name ? e->name : "error") + (e->message ? std::string(": ") + e->message : "");
        v = polkit_absent_error(e->name) ? self->absent(p->action, why) : deny_unanswered(p->action, why);
    } else {
        int authorized = 0, challenge = 0;
        int r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0) r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
            v = deny_unanswered(p->action, "malformed reply");
        } else if (authorized) {
            v = Verdict{true, {}};
        } else {
            v = Verdict{false, std::string("polkit refused ") + action_id +
                                   (challenge ? " (it requires authentication, which the agent cannot ask for)"
                                              : "")};
        }
    }
    if (auto cache = p->cache.lock(); cache && v.allowed)
        cache->allowed_until[std::size_t(p->action)] = now_monotonic() + kCacheUsec;
    if (!v.allowed) log_info(v.why);
    p->done(std::move(v));
    return 1;
}

} // namespace puddle::agent

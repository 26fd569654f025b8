#include "agent/authorizer.hpp"

#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/proc.hpp"

#include <fstream>
#include <time.h>
#include <unistd.h>

namespace puddle::agent {
namespace {

constexpr std::uint64_t kCacheUsec = 1000000;
constexpr std::uint64_t kPolkitTimeoutUsec = 10 * 1000000;

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
    Action action;
    std::weak_ptr<AuthzCache> cache;
    std::function<void(Verdict)> done;
};

Authorizer::Authorizer(sd_event *loop, PolkitMode mode) : loop_(loop), mode_(mode), own_uid_(::getuid()) {}

Authorizer::~Authorizer() = default;

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

Verdict Authorizer::unavailable(Action action, const std::string &why) {
    retry_after_ = now_monotonic() + 3 * kCacheUsec;
    if (mode_ == PolkitMode::required)
        return Verdict{false, std::string("polkit is required for ") + polkit_action_id(action) +
                                  " but did not answer: " + why};
    if (!warned_) {
        log_warning("polkit did not answer (" + why + "); falling back to the uid check (polkit = \"auto\")");
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

    if (retry_after_ > now_monotonic()) {
        if (mode_ == PolkitMode::required)
            return Verdict{false, std::string("polkit is required for ") + action_id + " but did not answer"};
        return Verdict{true, {}};
    }
    sd_bus *bus = system_bus();
    if (!bus) return unavailable(action, "no system bus");
    if (peer.pid <= 0 || peer.start_time == 0) return Verdict{false, "cannot identify the calling process for polkit"};

    sd_bus_message *raw = nullptr;
    int r = sd_bus_message_new_method_call(bus, &raw, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
    if (r < 0) return unavailable(action, errno_text(-r));
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
    if (r >= 0) r = sd_bus_message_append(m.get(), "sa{ss}us", action_id, 0, 0u, "");
    if (r < 0) return unavailable(action, "cannot build the polkit request: " + errno_text(-r));

    auto *pending = new Pending{this, action, cache, std::move(done)};
    sd_bus_slot *s = nullptr;
    r = sd_bus_call_async(bus, &s, m.get(), on_reply, pending, kPolkitTimeoutUsec);
    if (r < 0) {
        delete pending;
        bus_.reset();
        return unavailable(action, errno_text(-r));
    }
    sd_bus_slot_set_destroy_callback(s, on_destroy);
    sd_bus_slot_set_floating(s, 1);
    sd_bus_slot_unref(s);
    return std::nullopt;
}

void Authorizer::on_destroy(void *userdata) { delete static_cast<Pending *>(userdata); }

int Authorizer::on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *) {
    auto *p = static_cast<Pending *>(userdata);
    Authorizer *self = p->self;
    const char *action_id = polkit_action_id(p->action);
    Verdict v;
    if (const sd_bus_error *e = sd_bus_message_get_error(reply)) {
        v = self->unavailable(p->action, std::string(e->name ? e->name : "error") +
                                             (e->message ? std::string(": ") + e->message : std::string()));
    } else {
        int authorized = 0, challenge = 0;
        int r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0) r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
            v = self->unavailable(p->action, "malformed reply from polkit");
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

#include "agent/login_watch.hpp"

#include "util/error.hpp"
#include "util/log.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <systemd/sd-login.h>
#include <unistd.h>

namespace puddle::agent {
namespace {

constexpr const char *kLogind = "org.freedesktop.login1";
constexpr const char *kManagerPath = "/org/freedesktop/login1";
constexpr const char *kManagerIface = "org.freedesktop.login1.Manager";
constexpr const char *kSessionIface = "org.freedesktop.login1.Session";
constexpr const char *kSessionPathPrefix = "/org/freedesktop/login1/session";

} // namespace

std::optional<LockReason> lock_for(LoginEvent event, const LoginFacts &facts, const Config::Agent &policy) {
    switch (event) {
    case LoginEvent::session_lock:
    case LoginEvent::locked_hint:
        if (facts.own_session && policy.lock_on_session_lock) return LockReason::session_locked;
        return std::nullopt;
    case LoginEvent::prepare_for_sleep:
        if (policy.lock_on_sleep) return LockReason::sleep;
        return std::nullopt;
    case LoginEvent::session_removed:
        if (policy.lock_on_logout && facts.sessions_left == 0) return LockReason::logged_out;
        return std::nullopt;
    }
    return std::nullopt;
}

LoginWatch::LoginWatch(sd_event *loop, const Config::Agent &policy, std::function<void(LockReason)> lock)
    : policy_(policy), lock_(std::move(lock)), uid_(::getuid()) {
    if (!policy_.lock_on_session_lock && !policy_.lock_on_sleep && !policy_.lock_on_logout) return;
    sd_bus *b = nullptr;
    if (int r = sd_bus_open_system(&b); r < 0) {
        log_info("no system bus (" + errno_text(-r) + "): the key does not lock with the login session or sleep");
        return;
    }
    bus_.reset(b);
    if (int r = sd_bus_attach_event(b, loop, SD_EVENT_PRIORITY_NORMAL); r < 0) {
        log_warning("cannot watch logind: " + errno_text(-r) + "; the key does not lock with the login session");
        bus_.reset();
        return;
    }
    // The bus routes these only from the owner of org.freedesktop.login1:
    // no other process can make the agent lock (or not lock) by sending them.
    auto match = [&](SdBusSlot &slot, const char *path, const char *iface, const char *member,
                     sd_bus_message_handler_t handler) {
        sd_bus_slot *s = nullptr;
        if (int r = sd_bus_match_signal_async(b, &s, kLogind, path, iface, member, handler, nullptr, this); r < 0)
            log_warning(std::string("cannot watch logind's ") + member + ": " + errno_text(-r));
        else
            slot.reset(s);
    };
    if (policy_.lock_on_session_lock) {
        match(lock_slot_, nullptr, kSessionIface, "Lock", on_session_lock);
        match(props_slot_, nullptr, "org.freedesktop.DBus.Properties", "PropertiesChanged", on_properties_changed);
    }
    if (policy_.lock_on_sleep) match(sleep_slot_, kManagerPath, kManagerIface, "PrepareForSleep", on_prepare_for_sleep);
    if (policy_.lock_on_logout) match(removed_slot_, kManagerPath, kManagerIface, "SessionRemoved", on_session_removed);
}

bool LoginWatch::own_session_path(const char *path) const {
    char *id = nullptr;
    if (!path || sd_bus_path_decode(path, kSessionPathPrefix, &id) <= 0) return false;
    uid_t owner = uid_t(-1);
    const int r = sd_session_get_uid(id, &owner);
    std::free(id);
    return r >= 0 && owner == uid_;
}

void LoginWatch::decide(LoginEvent event, const LoginFacts &facts) {
    if (auto reason = lock_for(event, facts, policy_)) lock_(*reason);
}

int LoginWatch::on_session_lock(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<LoginWatch *>(userdata);
    self->decide(LoginEvent::session_lock, LoginFacts{self->own_session_path(sd_bus_message_get_path(m)), 0});
    return 0;
}

int LoginWatch::on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<LoginWatch *>(userdata);
    const char *iface = nullptr;
    if (sd_bus_message_read(m, "s", &iface) < 0 || std::string_view(iface) != kSessionIface) return 0;
    if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0) return 0;
    bool locked = false;
    while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
        const char *name = nullptr;
        if (sd_bus_message_read(m, "s", &name) < 0) return 0;
        int value = 0;
        if (std::string_view(name) == "LockedHint") {
            if (sd_bus_message_read(m, "v", "b", &value) < 0) return 0;
            locked = value != 0;
        } else if (sd_bus_message_skip(m, "v") < 0) {
            return 0;
        }
        if (sd_bus_message_exit_container(m) < 0) return 0;
    }
    if (locked)
        self->decide(LoginEvent::locked_hint, LoginFacts{self->own_session_path(sd_bus_message_get_path(m)), 0});
    return 0;
}

int LoginWatch::on_prepare_for_sleep(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<LoginWatch *>(userdata);
    int start = 0;
    if (sd_bus_message_read(m, "b", &start) < 0) return 0;
    if (start) {
        self->decide(LoginEvent::prepare_for_sleep, {});
        // Locked now (the lock hook let it go already): nothing more to delay.
        self->inhibitor_.reset();
    } else if (self->want_inhibitor_) {
        self->take_inhibitor();
    }
    return 0;
}

int LoginWatch::on_session_removed(sd_bus_message *, void *userdata, sd_bus_error *) {
    auto *self = static_cast<LoginWatch *>(userdata);
    // An error reading the user's sessions counts as none left: when unsure,
    // lock.
    const int n = sd_uid_get_sessions(self->uid_, 0, nullptr);
    self->decide(LoginEvent::session_removed, LoginFacts{false, n > 0 ? unsigned(n) : 0U});
    return 0;
}

void LoginWatch::session_changed(bool unlocked) {
    want_inhibitor_ = unlocked && policy_.lock_on_sleep && bus_ && !no_logind_;
    if (!want_inhibitor_) {
        inhibit_call_.reset();
        inhibitor_.reset();
        return;
    }
    if (!inhibitor_ && !inhibit_call_) take_inhibitor();
}

void LoginWatch::take_inhibitor() {
    sd_bus_slot *s = nullptr;
    const int r = sd_bus_call_method_async(bus_.get(), &s, kLogind, kManagerPath, kManagerIface, "Inhibit",
                                           on_inhibit_reply, this, "ssss", "sleep", "puddle-agent",
                                           "lock the identity key before the machine sleeps", "delay");
    if (r < 0) {
        log_warning("cannot ask logind to delay sleep: " + errno_text(-r) + "; the key may still be unlocked at sleep");
        return;
    }
    inhibit_call_.reset(s);
}

int LoginWatch::on_inhibit_reply(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<LoginWatch *>(userdata);
    self->inhibit_call_.reset();
    if (const sd_bus_error *e = sd_bus_message_get_error(m)) {
        const std::string why = e->message ? e->message : e->name;
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
            // No logind on this system: nothing sleeps through it either.
            log_info("no logind (" + why + "): the key does not lock with the login session or sleep");
            self->no_logind_ = true;
            return 0;
        }
        log_warning("logind refused a sleep delay (" + why + "); the key may still be unlocked at sleep");
        return 0;
    }
    int fd = -1;
    if (sd_bus_message_read(m, "h", &fd) < 0) return 0;
    // The message owns its fd: keep a copy, held exactly while unlocked.
    UniqueFd own(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (self->want_inhibitor_) self->inhibitor_ = std::move(own);
    return 0;
}

} // namespace puddle::agent

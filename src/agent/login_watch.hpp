// Locking that follows the login session: logind (org.freedesktop.login1 on
// the system bus) says when one of the user's sessions is locked, when the
// machine is about to sleep and when the user's last session has ended; the
// agent locks at each, as configured ([agent] lock_on_session_lock,
// lock_on_sleep, lock_on_logout in puddle.toml(5)).
//
// Before sleep the lock must land first: while the key is unlocked the agent
// holds a logind "delay" inhibitor for sleep, and lets it go once locked.
// Without a system bus or logind nothing here happens (logged once): the idle
// timeout and `puddle lock` still apply.
#pragma once

#include "agent/session.hpp"
#include "core/config.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <functional>
#include <optional>
#include <sys/types.h>

namespace puddle::agent {

enum class LoginEvent {
    session_lock,      // Session.Lock (loginctl lock-session, a screen locker's request)
    locked_hint,       // Session.LockedHint became true (the screen locker locked)
    prepare_for_sleep, // Manager.PrepareForSleep(true)
    session_removed,   // Manager.SessionRemoved
};

// What the agent knows about the event when it decides.
struct LoginFacts {
    bool own_session = false;  // the session is one of this user's (session events)
    unsigned sessions_left = 0; // the user's sessions after a removal
};

// The decision alone, with no bus: the lock reason, or nullopt to do nothing.
std::optional<LockReason> lock_for(LoginEvent event, const LoginFacts &facts, const Config::Agent &policy);

class LoginWatch {
public:
    // `lock` is called from the event loop with the reason.
    LoginWatch(sd_event *loop, const Config::Agent &policy, std::function<void(LockReason)> lock);
    // Called whenever the session changes: holds the sleep inhibitor exactly
    // while the key is unlocked.
    void session_changed(bool unlocked);

private:
    static int on_session_lock(sd_bus_message *m, void *userdata, sd_bus_error *);
    static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *);
    static int on_prepare_for_sleep(sd_bus_message *m, void *userdata, sd_bus_error *);
    static int on_session_removed(sd_bus_message *m, void *userdata, sd_bus_error *);
    static int on_inhibit_reply(sd_bus_message *m, void *userdata, sd_bus_error *);
    bool own_session_path(const char *path) const;
    void decide(LoginEvent event, const LoginFacts &facts);
    void take_inhibitor();

    Config::Agent policy_;
    std::function<void(LockReason)> lock_;
    uid_t uid_;
    SdBus bus_;
    SdBusSlot lock_slot_, props_slot_, sleep_slot_, removed_slot_, inhibit_call_;
    UniqueFd inhibitor_;
    bool want_inhibitor_ = false;
    bool no_logind_ = false; // found absent once: ask no more
};

} // namespace puddle::agent

// Which logind event locks the key, under which [agent] settings
// (puddle-agent(1), LOCKING; puddle.toml(5)). The sleep path cannot be
// driven in a container (logind there refuses to suspend), so its decision
// is pinned here; the session-lock path also runs for real in the booted
// container.
#define BOOST_TEST_MODULE login_watch
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "agent/login_watch.hpp"

#include <string>

using namespace puddle;
using namespace puddle::agent;

namespace {

std::string outcome(std::optional<LockReason> r) { return r ? lock_reason_name(*r) : "none"; }

Config::Agent policy(bool session_lock, bool sleep, bool logout) {
    Config::Agent a;
    a.lock_on_session_lock = session_lock;
    a.lock_on_sleep = sleep;
    a.lock_on_logout = logout;
    return a;
}

} // namespace

BOOST_AUTO_TEST_CASE(defaults_lock_on_session_lock_and_sleep_not_on_logout) {
    const Config::Agent a;
    BOOST_TEST(a.lock_on_session_lock);
    BOOST_TEST(a.lock_on_sleep);
    BOOST_TEST(!a.lock_on_logout);
}

BOOST_AUTO_TEST_CASE(locking_one_of_our_sessions_locks) {
    const auto on = policy(true, true, true);
    BOOST_TEST(outcome(lock_for(LoginEvent::session_lock, {true, 1}, on)) == "session-locked");
    BOOST_TEST(outcome(lock_for(LoginEvent::locked_hint, {true, 1}, on)) == "session-locked");
}

BOOST_AUTO_TEST_CASE(another_users_session_never_locks_ours) {
    const auto on = policy(true, true, true);
    BOOST_TEST(outcome(lock_for(LoginEvent::session_lock, {false, 1}, on)) == "none");
    BOOST_TEST(outcome(lock_for(LoginEvent::locked_hint, {false, 1}, on)) == "none");
}

BOOST_AUTO_TEST_CASE(sleep_locks_first) {
    BOOST_TEST(outcome(lock_for(LoginEvent::prepare_for_sleep, {}, policy(false, true, false))) == "sleep");
}

BOOST_AUTO_TEST_CASE(the_last_session_ending_locks_only_when_asked) {
    BOOST_TEST(outcome(lock_for(LoginEvent::session_removed, {false, 0}, policy(true, true, true))) == "logged-out");
    BOOST_TEST(outcome(lock_for(LoginEvent::session_removed, {false, 1}, policy(true, true, true))) == "none");
    BOOST_TEST(outcome(lock_for(LoginEvent::session_removed, {false, 0}, policy(true, true, false))) == "none");
}

BOOST_AUTO_TEST_CASE(each_setting_turns_its_event_off) {
    const auto off = policy(false, false, false);
    for (auto e : {LoginEvent::session_lock, LoginEvent::locked_hint, LoginEvent::prepare_for_sleep,
                   LoginEvent::session_removed})
        BOOST_TEST(outcome(lock_for(e, {true, 0}, off)) == "none");
}

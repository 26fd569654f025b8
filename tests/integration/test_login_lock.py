"""Locking that follows the login session (issue 18, part 4), in the booted
container: a real logind, a PAM login on seat0, the installed agent.

- `loginctl lock-session` on the user's session locks the key within a
  second (Locked "session-locked"), and so does the screen locker's way,
  SetLockedHint(true) from inside the session;
- while the key is unlocked the agent holds a logind delay inhibitor for
  sleep (systemd-inhibit --list), and lets it go when locked;
- another user's session being locked does not lock this user's key;
- lock_on_session_lock = false turns it off.

The sleep path itself (PrepareForSleep) cannot be driven here: logind in a
container refuses to suspend, and only logind may send the signal. Its
decision is pinned by tests/unit/test_login_watch.cpp; the inhibitor that
makes it land first is checked here. Logging out (lock_on_logout) would end
the harness's own login; its decision is likewise a unit test."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, AgentTestCase, enter_user_session, main, wait_until  # noqa: E402

CONFIG_FILE = ".config/puddle/puddle.toml"


def root(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=check)


class LoginLock(AgentTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.environ.get("PUDDLE_BOOTED"):
            raise unittest.SkipTest("SKIP: needs logind and a PAM login: runs in the booted container (tests/boot)")
        super().setUpClass()

    def session_id(self, uid=None):
        """The user's login session (class "user"): systemd >= 256 also lists
        the user manager's own session (class "manager", "c1"...), which
        cannot be locked."""
        uid = self.a.s.uid if uid is None else uid
        ids = root("loginctl", "show-user", str(uid), "-p", "Sessions", "--value").stdout.split()
        logins = [i for i in ids
                  if root("loginctl", "show-session", i, "-p", "Class", "--value").stdout.strip() == "user"]
        self.assertTrue(logins, f"uid {uid} has no login session (sessions: {ids})")
        return logins[0]

    def unlocked(self):
        return self.a.sock("STATUS")[0].startswith('OK {"unlocked":true')

    def unlock(self):
        p = self.a.unlock("--no-watch")
        if p.returncode != 0:
            st = self.a.s.systemctl("status", "--no-pager", "-n", "30", "puddle-agent.service", "puddle-agent.socket",
                                    check=False)
            self.fail(f"unlock failed: {p.stderr}\n{st.stdout}")
        self.assertTrue(self.unlocked())

    def inhibitors(self):
        # Who holds what: "WHO UID USER PID COMM WHAT WHY MODE", one per line.
        return [l for l in root("systemd-inhibit", "--list", "--no-pager", "--no-legend").stdout.splitlines()
                if "puddle-agent" in l]

    def setUp(self):
        # These tests start the agent more often than systemd's default start
        # limit (5 in 10 s) lets a unit start: forget the earlier starts.
        self.a.s.systemctl("reset-failed", "puddle-agent.service", "puddle-agent.socket", "puddle-agent-ssh.socket",
                           check=False)
        self.a.s.systemctl("start", "puddle-agent.socket", "puddle-agent-ssh.socket")
        super().setUp()

    def set_config(self, text):
        self.a.s.write_file(CONFIG_FILE, text)
        self.a.stop_agent()  # the next request starts it with the new file

    def test_lock_session_locks_the_key_within_a_second(self):
        self.unlock()
        sid = self.session_id()
        t0 = time.monotonic()
        root("loginctl", "lock-session", sid)
        self.a.wait_signal("session-locked", timeout=5)
        took = time.monotonic() - t0
        print(f"\n  loginctl lock-session {sid} -> Locked(session-locked) after {took * 1000:.0f} ms", file=sys.stderr)
        self.assertFalse(self.unlocked())
        self.assertLess(took, 1.0, "the key was locked, but later than a second after the session")
        self.assertIn("locked (session-locked)", self.journal())

    def test_the_screen_lockers_hint_locks_the_key(self):
        self.unlock()
        # What a screen locker does once the screen is locked: from inside
        # the session, on its own session object.
        p = self.a.s.run(["busctl", "call", "org.freedesktop.login1", "/org/freedesktop/login1/session/auto",
                          "org.freedesktop.login1.Session", "SetLockedHint", "b", "true"], timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        try:
            self.a.wait_signal("session-locked", timeout=5)
            self.assertFalse(self.unlocked())
        finally:
            self.a.s.run(["busctl", "call", "org.freedesktop.login1", "/org/freedesktop/login1/session/auto",
                          "org.freedesktop.login1.Session", "SetLockedHint", "b", "false"], timeout=30)

    def test_a_sleep_delay_is_held_exactly_while_unlocked(self):
        self.assertEqual(self.inhibitors(), [], "an inhibitor while locked")
        self.unlock()
        wait_until(lambda: self.inhibitors(), 5, what="the agent's inhibitor in systemd-inhibit --list")
        (line,) = self.inhibitors()
        print(f"\n  {line.strip()}", file=sys.stderr)
        self.assertIn("sleep", line)
        self.assertIn("delay", line)
        self.assertIn(str(self.a.agent_pid()), line)
        self.assertEqual(self.a.puddle("lock").returncode, 0)
        wait_until(lambda: not self.inhibitors(), 5, what="the inhibitor to go with the lock")

    def test_another_users_session_does_not_lock_this_key(self):
        self.unlock()
        other = enter_user_session("pdo")
        try:
            root("loginctl", "lock-session", self.session_id(other.uid))
            # The agent's own session being locked is the control: that one
            # does lock, so the first one had its chance to be seen.
            time.sleep(1.0)
            self.assertTrue(self.unlocked(), "another user's session lock locked this key")
            self.assertNotIn("session-locked", self.a.signals)
        finally:
            other.__exit__(None, None, None)
        root("loginctl", "lock-session", self.session_id())
        self.a.wait_signal("session-locked", timeout=5)

    def test_lock_on_session_lock_false_keeps_the_key(self):
        self.set_config(CONFIG + "lock_on_session_lock = false\n")
        try:
            self.unlock()
            root("loginctl", "lock-session", self.session_id())
            time.sleep(1.5)
            self.assertTrue(self.unlocked(), "locked although lock_on_session_lock = false")
            self.assertNotIn("session-locked", self.a.signals)
        finally:
            self.set_config(CONFIG)


if __name__ == "__main__":
    main()

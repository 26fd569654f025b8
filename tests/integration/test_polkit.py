"""polkit gates every request on both doors: a real polkitd on a real system
bus, with real rules files, and the agent under a real user manager."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, SOURCE, AgentSession, b64, main, wait_until  # noqa: E402
from puddle_harness import Skip, SystemBus, UserSession, require_root  # noqa: E402


def deny_rule(action, user):
    return ('polkit.addRule(function(action, subject) {\n'
            f'    if (action.id == "{action}" && subject.user == "{user}") return polkit.Result.NO;\n'
            '});\n')


class Polkit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            require_root()
            cls.sysbus = SystemBus()
            cls.sysbus.__enter__()
        except Skip as e:
            raise unittest.SkipTest(f"SKIP: {e}")
        try:
            cls.sysbus.install_action_file(os.path.join(SOURCE, "polkit", "org.puddle.policy"))
            cls.session = UserSession(name_prefix="pdp")
            cls.session.__enter__()
        except BaseException:
            cls.sysbus.__exit__(None, None, None)
            raise
        try:
            cls.a = AgentSession(cls.session)
            cls.a.install()
            cls.pub = cls.a.init()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "a", None) and cls.a.monitor:
            cls.a.monitor.kill()
        cls.session.__exit__(None, None, None)
        cls.sysbus.__exit__(None, None, None)

    def setUp(self):
        self.a.puddle("lock")

    def set_mode(self, mode):
        self.session.write_file(".config/puddle/puddle.toml",
                                CONFIG.replace("[agent]\n", f'[agent]\npolkit = "{mode}"\n'))
        self.session.systemctl("stop", "puddle-agent.service")

    def sign_socket(self):
        return self.a.sock("SIGN " + b64(b"polkit test"))[0]

    def test_pkaction_knows_the_actions(self):
        for action in ("org.puddle.sign", "org.puddle.unlock", "org.puddle.lock", "org.puddle.pair",
                       "org.puddle.manage"):
            p = subprocess.run(["pkaction", "--action-id", action, "--verbose"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("implicit any:      yes", p.stdout)

    def test_default_policy_allows_the_users_own_processes(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.assertTrue(self.sign_socket().startswith("OK "))
        self.assertIn("ok", self.a.bus("sign", b"x".hex()))
        self.assertEqual(self.a.puddle("sign", input="x").returncode, 0)

    def test_deny_sign_rule_is_honoured_by_both_doors_and_lifted_live(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        pid = self.a.agent_pid()
        self.sysbus.add_rule("50-puddle-test-deny-sign", deny_rule("org.puddle.sign", self.session.user))
        try:
            wait_until(lambda: self.sign_socket().startswith("ERR denied"), 5, what="the socket door to deny")
            reply = self.sign_socket()
            self.assertIn("org.puddle.sign", reply)
            r = self.a.bus("sign", b"x".hex())
            self.assertEqual(r.get("error"), "org.freedesktop.DBus.Error.AccessDenied", r)
            self.assertIn("org.puddle.sign", r["message"])
            p = self.a.puddle("sign", input="x")
            self.assertEqual(p.returncode, 7, p.stderr)
            self.assertIn("org.puddle.sign", p.stderr)
            # The ssh-agent door goes through the same check.
            pub = self.session.write_file("k.pub", self.a.puddle("pubkey", "--ssh").stdout)
            data = self.session.write_file("d.txt", "x\n")
            k = self.session.run(["ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", data],
                                 env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
            self.assertNotEqual(k.returncode, 0, k.stderr)
            # Other actions are not affected.
            self.assertEqual(self.a.sock("PUBKEY")[0], "OK " + self.pub)
        finally:
            self.sysbus.remove_rule("50-puddle-test-deny-sign")
        wait_until(lambda: self.sign_socket().startswith("OK "), 5, what="signing to be allowed again")
        self.assertEqual(self.a.puddle("sign", input="x").returncode, 0)
        self.assertEqual(self.a.agent_pid(), pid, "lifting the rule must not need an agent restart")

    def test_rule_change_reaches_a_persistent_connection_within_two_seconds(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        client = self.session.popen(["/usr/bin/python3", os.path.join(self.a.bindir, "sock_client.py"),
                                     "--repeat", "40", "--interval", "0.1"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        client.stdin.write(("SIGN " + b64(b"persistent") + "\n").encode())
        client.stdin.close()
        time.sleep(1.0)
        self.sysbus.add_rule("50-puddle-test-deny-sign", deny_rule("org.puddle.sign", self.session.user))
        try:
            out = json.loads(client.stdout.read())
            self.assertEqual(client.wait(), 0)
        finally:
            self.sysbus.remove_rule("50-puddle-test-deny-sign")
        # Map the rule's time onto the client's clock: the client started ~1 s before.
        self.assertTrue(out[0][1].startswith("OK "), out[0])
        late = [r for t, r in out if t > 1.0 + 2.0]
        self.assertTrue(late, out)
        self.assertTrue(all(r.startswith("ERR denied") for r in late), out)

    def test_unlock_rule_blocks_unlock(self):
        self.sysbus.add_rule("50-puddle-test-deny-unlock", deny_rule("org.puddle.unlock", self.session.user))
        try:
            time.sleep(0.2)
            p = self.a.unlock("--no-watch")
            self.assertEqual(p.returncode, 7, p.stderr)
            self.assertIn("org.puddle.unlock", p.stderr)
            r = self.a.bus_unlock(60 * 10**6)
            self.assertEqual(r.get("error"), "org.freedesktop.DBus.Error.AccessDenied", r)
            self.assertFalse(self.a.bus("props")["ok"]["Unlocked"])
        finally:
            self.sysbus.remove_rule("50-puddle-test-deny-unlock")

    def test_auto_mode_without_polkitd_falls_back_and_warns_once(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.sysbus.stop_polkit()
        try:
            mark = self.session.journal_mark()
            for _ in range(3):
                self.assertTrue(self.sign_socket().startswith("OK "))
                time.sleep(1.1)  # past the allow cache, so each asks again
            self.assertEqual(self.a.puddle("sign", input="x").returncode, 0)
            log = self.session.wait_journal("falling back to the uid check", unit="puddle-agent.service",
                                            since=mark)
            self.assertEqual(log.count("falling back to the uid check"), 1, log)
        finally:
            self.sysbus.start_polkit()

    def test_required_mode_without_polkitd_fails_closed(self):
        self.set_mode("required")  # restarts the agent, which ends any session: unlock after it
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        try:
            reply = self.sign_socket()
            self.assertTrue(reply.startswith("OK "), reply + self.session.journal(unit="puddle-agent.service")[-2000:])  # polkitd up: allowed
            self.sysbus.stop_polkit()
            try:
                time.sleep(1.1)
                reply = self.a.sock("SIGN " + b64(b"x"))[0]
                self.assertTrue(reply.startswith("ERR denied "), reply)
                self.assertIn("polkit is required", reply)
                p = self.a.puddle("sign", input="x")
                self.assertEqual(p.returncode, 7, p.stderr)
            finally:
                self.sysbus.start_polkit()
        finally:
            self.session.write_file(".config/puddle/puddle.toml", CONFIG)
            self.session.systemctl("stop", "puddle-agent.service")


if __name__ == "__main__":
    main()

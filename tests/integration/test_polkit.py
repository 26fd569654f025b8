"""polkit gates every request on both doors: a real polkitd on a real system
bus, with real rules files, and the agent under a real user manager."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, PY, SOURCE, AgentSession, PolkitAgentTestCase, b64, main, wait_until  # noqa: E402
from puddle_harness import Skip, SystemBus, UserSession, require_root  # noqa: E402


def deny_rule(action, user):
    return ('polkit.addRule(function(action, subject) {\n'
            f'    if (action.id == "{action}" && subject.user == "{user}") return polkit.Result.NO;\n'
            '});\n')


class Polkit(PolkitAgentTestCase):
    prefix = "pdp"

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

    # -- nothing a client can cause opens an allow (issue 14)

    def burst(self, *args):
        r = self.session.run([PY, os.path.join(self.a.bindir, "burst_client.py"), *args], timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def bus_burst(self, n):
        # n concurrent Sign calls, each on its own bus connection; one result
        # file per call ("OK" or busctl's error), read after all have ended.
        script = ("d=$(mktemp -d); for i in $(seq %d); do (busctl --user call --timeout=60 org.puddle.Agent1 "
                  "/org/puddle/Agent1 org.puddle.Agent1 Sign ay 1 120 >/dev/null 2>$d/$i && echo OK >$d/$i || "
                  "echo >>$d/$i) & done; wait; for f in $d/*; do head -n1 $f; done; rm -rf $d" % n)
        r = self.session.run(["bash", "-c", script], timeout=300)
        return [l.strip() for l in r.stdout.splitlines()]

    def test_a_burst_against_a_deny_rule_gets_no_signature(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.sysbus.add_rule("50-puddle-test-deny-sign", deny_rule("org.puddle.sign", self.session.user))
        try:
            wait_until(lambda: self.sign_socket().startswith("ERR denied"), 5, what="the socket door to deny")
            counts = self.burst("300")
            print(f"\n300 concurrent SIGNs against a deny rule: {counts}", file=sys.stderr)
            self.assertEqual(counts, {"ERR denied": 300}, counts)
            lines = self.bus_burst(300)
            print(f"300 concurrent bus Sign calls: {sum(l == 'OK' for l in lines)} signed, "
                  f"{len(lines)} answered; first: {lines[:1]}", file=sys.stderr)
            self.assertEqual(len(lines), 300, lines[:5])
            self.assertFalse([l for l in lines if l == "OK"], "signed despite the deny rule")
            self.assertTrue(all("Access denied" in l for l in lines), [l for l in lines if "Access denied" not in l][:5])
            self.assertTrue(self.sign_socket().startswith("ERR denied"))
        finally:
            self.sysbus.remove_rule("50-puddle-test-deny-sign")

    def test_callers_that_leave_before_polkit_answers_open_no_window(self):
        mark = self.session.journal_mark()
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.sysbus.add_rule("50-puddle-test-deny-sign", deny_rule("org.puddle.sign", self.session.user))
        try:
            wait_until(lambda: self.sign_socket().startswith("ERR denied"), 5, what="the socket door to deny")
            self.burst("200", "--hangup")  # polkit cannot look at a process that is gone
            for _ in range(10):
                reply = self.sign_socket()
                self.assertTrue(reply.startswith("ERR denied"), reply)
            r = self.a.bus("sign", b"x".hex())
            self.assertEqual(r.get("error"), "org.freedesktop.DBus.Error.AccessDenied", r)
            log = self.session.journal(unit="puddle-agent.service", since=mark)
            self.assertNotIn("falling back to the uid check", log)
            # The gone callers: denied, each, not taken for polkit being unavailable
            # (by polkit's check, or before it: a request whose process is gone
            # has no requester, puddle-agent(1) SECURITY).
            self.assertTrue("polkit could not decide" in log or "is gone; denied" in log or
                            "(pid " in log and ") is gone" in log, log[-2000:])
        finally:
            self.sysbus.remove_rule("50-puddle-test-deny-sign")

    def test_a_caller_that_hangs_up_while_polkit_thinks_costs_no_cpu(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        # polkit.spawn() runs a program synchronously: a slow polkit.
        slow = ('polkit.addRule(function(action, subject) {\n'
                f'    if (action.id == "org.puddle.sign" && subject.user == "{self.session.user}") {{\n'
                '        polkit.spawn(["/bin/sleep", "3"]); return polkit.Result.YES; }\n});\n')
        self.sysbus.add_rule("50-puddle-test-slow", slow)
        try:
            time.sleep(1)
            pid = self.a.agent_pid()

            def cpu():
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            before, t0 = cpu(), time.monotonic()
            self.burst("20", "--hangup")
            time.sleep(2.5)  # the checks are still with polkit
            used = cpu() - before
            print(f"\nagent CPU while 20 hung-up callers wait for a slow polkit: {used:.2f} s "
                  f"in {time.monotonic() - t0:.1f} s", file=sys.stderr)
            self.assertLess(used, 0.5)
        finally:
            self.sysbus.remove_rule("50-puddle-test-slow")

    def journal_text(self):
        return self.session.journal(unit="puddle-agent.service")

    def set_system_config(self, text):
        """The administrator's /etc/puddle/puddle.toml (on the lone manager: a
        root-owned file named by PUDDLE_SYSTEM_CONFIG in a drop-in, so the
        machine's own /etc is left alone)."""
        dropin = ".config/systemd/user/puddle-agent.service.d/50-system-config.conf"
        if os.environ.get("PUDDLE_BOOTED"):
            path = "/etc/puddle/puddle.toml"
        else:
            path = os.path.join(self.sysbus.workdir, "puddle.toml")
            os.chmod(self.sysbus.workdir, 0o755)
            self.session.write_file(dropin, f"[Service]\nEnvironment=PUDDLE_SYSTEM_CONFIG={path}\n")
        if text is None:
            for f in (path, os.path.join(self.session.home, dropin)):
                if os.path.exists(f):
                    os.unlink(f)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
        self.session.systemctl("daemon-reload")
        self.session.systemctl("stop", "puddle-agent.service")

    def test_the_users_file_cannot_loosen_required_from_the_administrator(self):
        self.set_system_config('[agent]\npolkit = "required"\n')
        self.set_mode("off")
        try:
            self.assertEqual(self.a.unlock("--no-watch").returncode, 0)  # polkit up: allowed
            self.sysbus.stop_polkit()
            try:
                reply = self.a.sock("SIGN " + b64(b"x"))[0]
                self.assertTrue(reply.startswith("ERR denied "), reply)
                self.assertIn("polkit is required", reply)
            finally:
                self.sysbus.start_polkit()
            self.assertIn("would loosen", self.journal_text())
        finally:
            self.set_system_config(None)
            self.session.write_file(".config/puddle/puddle.toml", CONFIG)
            self.session.systemctl("stop", "puddle-agent.service")

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

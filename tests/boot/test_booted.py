"""puddle as users get it, under a real systemd booted as PID 1 (journald,
logind, the system bus, polkitd) with PAM logins, on Debian 12 (systemd 252,
polkit 122) or Debian 13 (systemd 257, polkit 126):

    test_booted.py debian12|debian13

The project is installed inside the container, the agent sockets enabled for
all users; a user logs in through PAM and every step runs in a login session.
The key-custody tests play the attacker: another process of the same user.
"""
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import booted  # noqa: E402
import fleet_rollup  # noqa: E402
from agent_fixture import main as unittest_main  # noqa: E402  (meson's exit codes: 77 = skipped)
from cli_common import strict_json  # noqa: E402

DISTRO = None
# The agent's status entry (puddle-agent(1) STATUS ENTRY).
FLEET_ID = fleet_rollup.STATUS_ID
PASSPHRASE = "correct horse battery staple"
PROBE = os.path.join(booted.SOURCE, "tests", "boot", "probe.py")
BUS_CLIENT = os.path.join(booted.SOURCE, "tests", "integration", "bus_client.py")
# The same deny-unless-local-and-active rule polkit's own examples use, for
# this test's users only.
POLKIT_RULE = """polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.puddle.") == 0 && subject.user.indexOf("pb45") == 0)
        return (subject.local && subject.active) ? polkit.Result.YES : polkit.Result.NO;
});
"""
DENY_RULE = """polkit.addRule(function(action, subject) {
    if (action.id == "org.puddle.sign" && subject.user.indexOf("pb45") == 0) return polkit.Result.NO;
});
"""


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class Booted(unittest.TestCase):
    m = None

    @classmethod
    def setUpClass(cls):
        cls.m = booted.Machine(DISTRO)
        try:
            cls.m.__enter__()
        except booted.Skip as e:
            cls.m = None
            raise unittest.SkipTest(str(e))
        print("\n" + cls.m.boot_line, file=sys.stderr)
        try:
            cls.user = cls.m.add_user()
            cls.m.hold_session(cls.user)
            cls.home = "/home/" + cls.user
            cls.passfile = cls.home + "/pass"
            r = cls.sh("umask 077; printf '%%s\\n' '%s' > ~/pass" % PASSPHRASE)
            assert r.returncode == 0, r.stderr
        except BaseException:
            cls.m.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.m:
            cls.m.__exit__(None, None, None)

    # -- helpers ---------------------------------------------------------
    @classmethod
    def sh(cls, script, input=None, timeout=120):
        return cls.m.shell(cls.user, script, input=input, timeout=timeout)

    def ok(self, script, input=None, timeout=120):
        r = self.sh(script, input=input, timeout=timeout)
        self.assertEqual(r.returncode, 0, "%s\nstdout: %s\nstderr: %s" % (script, r.stdout, r.stderr))
        return r.stdout

    def ensure_initialized(self):
        if self.sh("test -f ~/.puddle/identity.pub").returncode != 0:
            self.ok("puddle init --passphrase-fd 3 3<~/pass")
        return self.ok("puddle pubkey").strip()

    def unlock(self, *extra):
        return self.ok("puddle unlock --no-watch --passphrase-fd 3 %s 3<~/pass" % " ".join(extra))

    def agent_pid(self):
        out = self.ok("systemctl --user show -p MainPID --value puddle-agent.service")
        return int(out.strip() or 0)

    def status(self):
        return strict_json(self.ok("puddle status --json"))

    def journal(self, since_marker=""):
        text = self.m.journal("puddle-agent.service")
        return text[text.rfind(since_marker):] if since_marker else text

    def probe(self, *args):
        return json.loads(self.ok("python3 %s %s" % (PROBE, " ".join(args))))

    # -- the tests -----------------------------------------------------
    def test_01_login_brings_the_sockets_and_the_agent_starts_on_first_use(self):
        out = self.sh("systemctl --user is-active puddle-agent.socket puddle-agent-ssh.socket puddle-agent.service")
        self.assertEqual(out.stdout.split(), ["active", "active", "inactive"], out.stderr)
        self.ok("test -S $XDG_RUNTIME_DIR/puddle/agent.sock && test -S $XDG_RUNTIME_DIR/puddle/ssh-agent.sock")
        pub = self.ensure_initialized()
        self.assertTrue(pub.startswith("ed25519:"), pub)
        st = self.status()
        self.assertIs(st["unlocked"], False, st)
        self.assertIs(st["agent_reachable"], True, st)
        self.assertGreater(self.agent_pid(), 0, "the status request did not activate the agent")
        # The agent runs in the login's user namespace (no implied one on 257).
        mem = self.probe("memory", str(self.agent_pid()), "00" * 32, "00" * 64)
        self.assertEqual(mem["uid_map"], "0 0 4294967295", mem)

    def test_02_unlock_sign_verify_ssh_and_the_journal(self):
        pub = self.ensure_initialized()
        self.unlock("--idle-mins", "30")
        self.ok("printf 'booted %s' > ~/msg" % DISTRO)
        sig = self.ok("puddle sign ~/msg").strip()
        self.ok("puddle verify --sig %s --pub %s ~/msg" % (sig, pub))
        bad = self.sh("printf 'other' > ~/msg2; puddle verify --sig %s --pub %s ~/msg2" % (sig, pub))
        self.assertNotEqual(bad.returncode, 0)
        # OpenSSH's own client lists the key through the ssh door.
        listed = self.ok("SSH_AUTH_SOCK=$XDG_RUNTIME_DIR/puddle/ssh-agent.sock ssh-add -L")
        self.assertEqual(listed.split()[:2], self.ok("puddle pubkey --ssh").split()[:2])
        # The agent's lines are in the real journal, readable by the user.
        user_view = self.ok("journalctl --user --no-pager -o cat -u puddle-agent.service")
        self.assertIn("unlocked " + pub, user_view)
        self.assertIn("unlocked " + pub, self.journal())

    def test_03_no_other_process_of_the_user_can_get_the_key(self):
        pub = self.ensure_initialized()
        self.unlock("--idle-mins", "30")
        self.ok("puddle sign ~/pass >/dev/null")
        secret = self.probe("secret", self.home + "/.puddle", self.passfile)
        seed, sk = secret["seed"], secret["sk"]
        self.assertTrue(sk.endswith(pub[len("ed25519:"):]))
        # Every key in every keyring the user's shell possesses, and in /proc/keys.
        keys = self.probe("keyrings", seed, sk)
        print("\nkeyrings: %s" % keys, file=sys.stderr)
        self.assertEqual(keys["leaks"], [], keys)
        self.assertGreater(keys["keys_seen"], 0, keys)
        # The agent's own key, by its serial from the journal: nothing.
        serials = re.findall(r"unlocked %s .*; key (\d+) in the agent's process keyring" % re.escape(pub),
                             self.journal())
        self.assertTrue(serials, "no key serial in the journal")
        attempt = self.probe("serial", serials[-1])
        print("key %s as another process: %s" % (serials[-1], attempt), file=sys.stderr)
        for what in ("describe", "read", "timeout", "setperm"):
            self.assertNotEqual(attempt[what], "ok", attempt)
        # Every file the user can read in the runtime directory, the state
        # directory and the home directory.
        files = self.probe("files", seed, sk, "$XDG_RUNTIME_DIR", self.home)
        print("files: %s" % files, file=sys.stderr)
        self.assertEqual(files["leaks"], [], files)
        self.assertGreater(files["files_scanned"], 5, files)
        # The agent's memory: no route without ptrace rights.
        mem = self.probe("memory", str(self.agent_pid()), seed, sk)
        print("memory: %s" % mem, file=sys.stderr)
        self.assertEqual(mem["process_vm_readv"], "EPERM", mem)
        for what in ("mem", "environ", "maps"):
            self.assertIn(mem[what], ("EACCES", "EPERM"), mem)
        self.assertIn(mem.get("pidfd_getfd", "EPERM"), ("EPERM", "EACCES"), mem)
        self.assertEqual(mem["uid_map"], "0 0 4294967295", mem)

    def test_03b_an_agent_started_under_ptrace_refuses_to_run(self):
        # Attaching before the agent turns non-dumpable would keep a tracer
        # attached; the agent checks and exits before reading any key.
        r = self.sh("python3 %s traced /usr/libexec/puddle/puddle-agent $XDG_RUNTIME_DIR/traced.sock "
                    "2>~/traced.err; cat ~/traced.err >&2" % PROBE)
        out = json.loads(r.stdout)
        self.assertNotEqual(out.get("exit", 0), 0, out)
        self.assertIn("traces the agent", r.stderr)
        self.ok("rm -f ~/traced.err $XDG_RUNTIME_DIR/traced.sock")

    def test_04_the_probes_find_a_planted_copy(self):
        # The probes above can fail: a copy of the seed in @u or a file is found.
        self.ensure_initialized()
        secret = self.probe("secret", self.home + "/.puddle", self.passfile)
        self.ok("mkdir -p ~/planted && printf %s > ~/planted/copy" % secret["seed"])
        try:
            files = self.probe("files", secret["seed"], secret["sk"], self.home + "/planted")
            self.assertEqual(files["leaks"], [self.home + "/planted/copy"], files)
        finally:
            self.ok("rm -rf ~/planted")
        k = self.ok("python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' %s | "
                    "keyctl padd user planted @u" % secret["seed"]).strip()
        try:
            keys = self.probe("keyrings", secret["seed"], secret["sk"])
            self.assertEqual([x["key"] for x in keys["leaks"]], [int(k)], keys)
        finally:
            self.ok("keyctl unlink %s @u" % k)

    def test_05_restart_and_sigkill_end_the_session(self):
        # KEY CUSTODY in puddle-agent(1): a session cannot outlive the agent
        # without something else holding the key, and whatever outlives it
        # is handed by the user manager to any program the user's unit files
        # name. So a restarted or killed agent is locked, and says so.
        self.ensure_initialized()
        self.unlock("--idle-mins", "30")
        self.assertTrue(self.status()["unlocked"])
        before = self.agent_pid()
        self.ok("systemctl --user restart puddle-agent.service")
        self.assertNotIn(self.agent_pid(), (0, before))
        st = self.status()
        self.assertFalse(st["unlocked"], st)
        r = self.sh("puddle sign ~/pass")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(self.sh("test -e ~/.puddle/session.unlocked").returncode, 1)
        self.assertIn("locked (agent-exit)", self.journal())

        self.unlock("--idle-mins", "30")
        pid = self.agent_pid()
        self.ok("kill -KILL %d" % pid)
        r = self.sh("puddle sign ~/pass")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertNotIn(self.agent_pid(), (0, pid))
        self.assertFalse(self.status()["unlocked"])
        self.assertIn("the session of an earlier agent ended with it", self.journal())

    def test_06_frozen_past_the_deadline_then_killed_or_resumed_is_locked(self):
        self.ensure_initialized()
        for resume in ("KILL", "CONT"):
            out = self.ok("python3 %s unlock ~/pass 2000000 0" % BUS_CLIENT)
            self.assertEqual(json.loads(out), {"ok": None})
            pid = self.agent_pid()
            self.ok("kill -STOP %d; sleep 4.5; kill -%s %d" % (pid, resume, pid))
            r = self.sh("puddle sign ~/pass")
            self.assertEqual(r.returncode, 3, "after SIGSTOP past the deadline and SIG%s: %s" % (resume, r.stderr))
            self.assertFalse(self.status()["unlocked"])
            if resume == "CONT":
                self.assertEqual(self.agent_pid(), pid)

    def test_07_polkit_judges_the_real_session(self):
        self.ensure_initialized()
        self.unlock("--idle-mins", "30")
        self.m.exec(["sh", "-c", "cat > /etc/polkit-1/rules.d/40-puddle-test.rules"], input=POLKIT_RULE)
        try:
            time.sleep(1)  # polkitd reloads rules on an inotify event
            # From the login session on seat0: local and active.
            self.ok("puddle sign ~/pass >/dev/null")
            self.m.exec(["sh", "-c", "cat > /etc/polkit-1/rules.d/40-puddle-test.rules"], input=DENY_RULE)
            time.sleep(1)
            r = self.sh("puddle sign ~/pass")
            self.assertEqual(r.returncode, 7, "a rule denying org.puddle.sign: %s" % r.stderr)
        finally:
            self.m.exec(["rm", "-f", "/etc/polkit-1/rules.d/40-puddle-test.rules"])
            time.sleep(1)
        self.ok("puddle sign ~/pass >/dev/null")

    def test_08_an_unlock_failure_shows_as_degraded(self):
        self.ensure_initialized()
        # A keyring the agent cannot use, as systemd >= 254 gave it with
        # namespace sandboxing: here, by a drop-in refusing the keyring calls.
        self.ok("mkdir -p ~/.config/systemd/user/puddle-agent.service.d && printf '[Service]\\n"
                "SystemCallFilter=~@keyring\\n' > ~/.config/systemd/user/puddle-agent.service.d/nokeyring.conf && "
                "systemctl --user daemon-reload && systemctl --user stop puddle-agent.service")
        try:
            r = self.sh("puddle unlock --no-watch --passphrase-fd 3 3<~/pass")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("keyring", r.stderr)
            st = self.status()
            self.assertEqual(st["health"]["state"], "degraded", st)
            text = self.ok("puddle status")
            self.assertIn("could not unlock", text)
        finally:
            self.ok("rm -rf ~/.config/systemd/user/puddle-agent.service.d && systemctl --user daemon-reload && "
                    "systemctl --user stop puddle-agent.service")
        self.unlock()
        st = self.status()
        self.assertEqual(st["health"]["state"], "healthy", st)

    def test_09_a_readable_session_key_left_by_an_older_agent_is_removed(self):
        pub = self.ensure_initialized()
        self.ok("systemctl --user stop puddle-agent.service")
        desc = "puddle:session:" + pub[len("ed25519:"):]
        k = self.ok("keyctl add user %s oldsecret @u" % desc).strip()
        self.ok("puddle status >/dev/null")  # activates the agent
        wait_until(lambda: self.sh("keyctl search @u user %s" % desc).returncode != 0, 10, "the old key to go")
        self.assertIn("left in the user keyring by an older agent", self.journal())
        self.sh("keyctl unlink %s @u" % k)

    def test_10_pairing_through_the_listener(self):
        # The pair listener runs in a user namespace of its own (it never holds
        # the key); it must work on both systemd versions.
        self.ensure_initialized()
        out = self.ok("puddle pair")
        code = re.search(r"(\d{4}-\d{4})", out).group(1)
        self.ok("mkdir -p ~/j/state ~/j/config/puddle && chmod 700 ~/j ~/j/state && touch ~/j/config/puddle/puddle.toml")
        r = self.sh("J=$HOME/j; HOME=$J PUDDLE_HOME=$J/state XDG_CONFIG_HOME=$J/config puddle join --from 127.0.0.1 "
                    "--code-fd 4 4<<<%s --passphrase-fd 3 3<~/pass" % code)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.m.journal("puddle-pair.service"))
        # The same identity, each sealed to its own machine: the exports agree but for
        # the members view each machine carries along (its own), the files do not.
        self.ok("J=$HOME/j; HOME=$J PUDDLE_HOME=$J/state XDG_CONFIG_HOME=$J/config puddle export - > ~/j.export; "
                "puddle export - > ~/a.export; python3 -c 'import json, sys; a, b = (json.load(open(p)) for p in "
                "sys.argv[1:]); assert a.pop(\"members\") and b.pop(\"members\"); sys.exit(a != b)' ~/a.export ~/j.export "
                "&& rm ~/j.export ~/a.export")
        self.ok("! cmp -s ~/j/state/identity.wrapped ~/.puddle/identity.wrapped")
        self.ok("rm -rf ~/j")

    def test_11_unit_sandbox_is_what_applies(self):
        # Informative: systemd's own view of the agent's exposure.
        r = self.sh("systemd-analyze --user security --no-pager puddle-agent.service | tail -1")
        print("\n%s: %s" % (DISTRO, r.stdout.strip()), file=sys.stderr)
        for unit in ("puddle-agent.service", "puddle-pair.service", "puddle-fleet.service", "puddle-fleet.timer",
                     "puddle-fleet.path"):
            r = self.sh("systemd-analyze --user verify /usr/lib/systemd/user/%s" % unit)
            self.assertNotIn("Unknown", r.stderr, r.stderr)

    def test_12_status_entries_roll_up_with_fleet_journal(self):
        # Two users with a puddle each; the journal's status entries exported
        # to the host, handed to systemd-journal-remote there, and rolled up
        # by 'puddle fleet --journal' (both containers' four puddles together:
        # tests/boot/fleet_rollup.py).
        users = {}
        name = "fleet-%s" % DISTRO[-2:]
        pub = self.ensure_initialized()
        self.unlock()
        self.ok("puddle name set %s" % name)
        users[self.user] = {"pub": pub, "unlocked": 1, "name": name, "health": self.status()["health"]["state"]}
        other = self.m.add_user()
        self.m.hold_session(other)

        def as_other(script):
            r = self.m.shell(other, script)
            self.assertEqual(r.returncode, 0, "%s\n%s%s" % (script, r.stdout, r.stderr))
            return r.stdout
        as_other("umask 077; printf '%%s\\n' '%s' > ~/pass && puddle init --passphrase-fd 3 3<~/pass && "
                 "puddle unlock --no-watch --passphrase-fd 3 3<~/pass && puddle lock" % PASSPHRASE)
        users[other] = {"pub": as_other("puddle pubkey").strip(), "unlocked": 0, "name": None,
                        "health": strict_json(as_other("puddle status --json"))["health"]["state"]}

        def newest(user):
            r = self.m.exec(["journalctl", "--no-pager", "-o", "json", "-n", "1", "MESSAGE_ID=" + FLEET_ID,
                             "_UID=%d" % self.m.uid(user)], check=False)
            return json.loads(r.stdout) if r.stdout.strip() else None
        wait_until(lambda: (newest(self.user) or {}).get("PUDDLE_NAME") == name, 20, "the status entry with the name")
        wait_until(lambda: (newest(other) or {}).get("PUDDLE_UNLOCKED") == "no", 20, "the status entry after lock")

        export = subprocess.run(self.m._nsenter() + ["journalctl", "-o", "export", "MESSAGE_ID=" + FLEET_ID],
                                stdout=subprocess.PIPE, check=True, timeout=60).stdout
        # Left for the roll-up of both containers (fleet_rollup.py, meson test 'fleet-rollup').
        fleet_rollup.save_export(DISTRO, export, users)
        report = fleet_rollup.check_roll_up(self, [fleet_rollup.export_paths(DISTRO)[0]], users)
        print("\n%s: fleet --journal rolled up %d puddles" % (DISTRO, len(report["puddles"])), file=sys.stderr)

    def test_13_machine_reports_follow_changes_no_command_of_the_user_made(self):
        # puddle-fleet.timer and .path, enabled for every user as the package does (booted.install), run
        # 'puddle fleet --sync' in puddle-fleet.service under its sandbox. The agent's D-Bus Rekey writes
        # no report itself: the path unit sees the new identity.wrapped and the report follows.
        for unit in ("puddle-fleet.timer", "puddle-fleet.path"):
            r = self.sh("systemctl --user is-active %s" % unit)
            self.assertEqual(r.stdout.strip(), "active", "%s at login: %s%s" % (unit, r.stdout, r.stderr))
        self.assertIn("puddle-fleet.timer", self.ok("systemctl --user list-timers --no-pager puddle-fleet.timer"))
        self.ensure_initialized()
        self.ok("mkdir -p ~/.config/puddle && printf '\\n[fleet]\\ndirectory = \"%s/carrier\"\\n' \"$HOME\" "
                ">> ~/.config/puddle/puddle.toml")
        try:
            self.ok("systemctl --user start puddle-fleet.service")
            self.assertEqual(self.ok("systemctl --user show -p Result --value puddle-fleet.service").strip(), "success")
            reports = self.ok("ls ~/carrier").split()
            self.assertEqual(len(reports), 1, reports)

            def seq():
                return strict_json(self.ok("cat ~/.puddle/fleet.json"))["seq"]
            before, generation = seq(), strict_json(self.ok("puddle fleet --json"))["generation"]
            self.unlock()
            out = json.loads(self.ok("python3 %s rekey ~/pass ~/pass" % BUS_CLIENT))
            self.assertIn("ok", out, out)
            wait_until(lambda: seq() > before, 30, "the report rewritten after the agent's Rekey")
            wait_until(lambda: self.ok("systemctl --user is-active puddle-fleet.service || true").strip() == "inactive",
                       30, "puddle-fleet.service done")
            self.assertEqual(self.ok("puddle pubkey").strip(), out["ok"])
            # What the service wrote is the report of the new key: a sync now has nothing new to say.
            self.assertIn("report unchanged", self.ok("puddle fleet --sync"))
            doc = strict_json(self.ok("puddle fleet --json"))
            me = [m for m in doc["machines"] if m["self"]][0]
            self.assertEqual((doc["generation"], me["generation"]), (generation + 1, generation + 1), doc)
            log = self.ok("journalctl --user --no-pager -o cat -u puddle-fleet.service")
            self.assertGreaterEqual(log.count("report rewritten"), 2, log)
        finally:
            self.sh("sed -i '/^\\[fleet\\]$/,$d' ~/.config/puddle/puddle.toml; rm -rf ~/carrier")


def main():
    global DISTRO
    if len(sys.argv) < 2 or sys.argv[1] not in booted.DISTROS:
        raise SystemExit("usage: test_booted.py debian12|debian13")
    DISTRO = sys.argv.pop(1)
    unittest_main()


if __name__ == "__main__":
    main()

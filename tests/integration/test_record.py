"""The record of the key's uses (issue 18, part 1), in the booted container:
the real journald, a PAM login on seat0, the installed agent, polkitd with
real rules.

- a signature through each door (D-Bus by `puddle sign`, agent.sock, the
  ssh door by OpenSSH's ssh-keygen -Y sign) is a journal entry with its own
  MESSAGE_ID, readable by the user with `journalctl --user`, naming the
  requesting executable, its unit (the login's session scope) and session,
  the data's length and SHA-256 and never the data;
- the ssh door names what a signature was for: sshsig and its namespace;
- a refusal by polkit and a failure (locked) are entries of their own kinds;
- `puddle log --json` reads the same back, and only the agent's entries: an
  entry another program sends with the same MESSAGE_ID is not shown;
- the first use by a program is a notice, and with
  [record] new_requester_warning_hours health is Warning;
- `puddle status` counts the uses since the unlock and names the last one.
"""
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, PY, AgentSession, b64, main, wait_until  # noqa: E402
from puddle_harness import Skip, SystemBus, UserSession  # noqa: E402

SIGNED = "771c1db3bed348e4a798a749505f6e73"
REFUSED = "5823c246b21149f38ccb4add20f7bd1f"
FAILED = "5d60044917544189b37a5388b40bac93"
NEW_REQUESTER = "b634f29b364d4aa099c111b065beecb5"


def deny_rule(action, user):
    return ('polkit.addRule(function(action, subject) {\n'
            f'    if (action.id == "{action}" && subject.user == "{user}") return polkit.Result.NO;\n'
            '});\n')


class Record(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.environ.get("PUDDLE_BOOTED"):
            raise unittest.SkipTest("SKIP: needs journald and a PAM login: runs in the booted container (tests/boot)")
        try:
            cls.sysbus = SystemBus()
            cls.sysbus.__enter__()
        except Skip as e:
            raise unittest.SkipTest(f"SKIP: {e}")
        try:
            cls.session = UserSession(name_prefix="pdr")
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

    def unlock(self):
        p = self.a.unlock("--no-watch")
        self.assertEqual(p.returncode, 0, p.stderr)

    def entries(self, message_id, marker=None):
        """The user's own view: journalctl --user, as the user."""
        def read():
            p = self.session.run(["journalctl", "--user", "--no-pager", "-o", "json", "MESSAGE_ID=" + message_id])
            self.assertEqual(p.returncode, 0, p.stderr)
            found = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
            return [e for e in found if marker is None or e.get("PUDDLE_DATA_SHA256") == marker]
        got = []
        wait_until(lambda: got.extend(read()) or got, 10, what=f"a journal entry {message_id} ({marker})")
        return got

    def log_json(self, *args):
        p = self.a.puddle("log", "--json", *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_each_door_is_a_journal_entry_naming_the_requester(self):
        self.unlock()
        data = {
            "dbus": b"record via dbus " + os.urandom(8).hex().encode(),
            "agent.sock": b"record via socket " + os.urandom(8).hex().encode(),
        }
        path = self.session.write_file("bus.txt", data["dbus"].decode())
        p = self.a.puddle("sign", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.a.sock("SIGN " + b64(data["agent.sock"]))[0].startswith("OK "))
        # The ssh door: OpenSSH's own signer, namespace "git" as git uses it.
        pubfile = self.session.write_file("k.pub", self.a.puddle("pubkey", "--ssh").stdout)
        msg = self.session.write_file("msg.txt", "ssh record " + os.urandom(8).hex())
        p = self.session.run(["ssh-keygen", "-Y", "sign", "-f", pubfile, "-n", "git", msg],
                             env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
        self.assertEqual(p.returncode, 0, p.stderr)

        session_id = None
        for door, raw in data.items():
            digest = hashlib.sha256(raw).hexdigest()
            (e,) = self.entries(SIGNED, digest)
            self.assertEqual(e["PUDDLE_DOOR"], door, e)
            self.assertEqual(e["PUDDLE_OUTCOME"], "signed")
            self.assertEqual(e["PUDDLE_PURPOSE"], "raw")
            self.assertEqual(int(e["PUDDLE_DATA_LENGTH"]), len(raw))
            self.assertEqual(e["PUDDLE_KEY"], self.pub)
            # The requester: the program and the login it runs in.
            want = "/usr/bin/puddle" if door == "dbus" else os.path.realpath(PY)
            self.assertEqual(e["PUDDLE_REQUESTER_EXE"], want, e)
            self.assertRegex(e["PUDDLE_REQUESTER_UNIT"], r"^session-\w+\.scope$", e)
            self.assertTrue(e.get("PUDDLE_REQUESTER_SESSION"), e)
            session_id = e["PUDDLE_REQUESTER_SESSION"]
            # Written by the agent itself (journald's trusted fields).
            self.assertEqual(e["_SYSTEMD_USER_UNIT"], "puddle-agent.service")
            self.assertNotIn(raw.decode(), json.dumps(e))
        sshsig = [e for e in self.entries(SIGNED) if e["PUDDLE_DOOR"] == "ssh-agent.sock"]
        self.assertTrue(sshsig)
        e = sshsig[-1]
        self.assertEqual((e["PUDDLE_PURPOSE"], e["PUDDLE_SSH_NAMESPACE"]), ("sshsig", "git"), e)
        self.assertEqual(e["PUDDLE_REQUESTER_EXE"], "/usr/bin/ssh-keygen")
        self.assertEqual(e["PUDDLE_REQUESTER_SESSION"], session_id)

        # puddle log reads the same back.
        log = self.log_json()
        by_sha = {u["sha256"]: u for u in log}
        for door, raw in data.items():
            u = by_sha[hashlib.sha256(raw).hexdigest()]
            self.assertEqual((u["door"], u["outcome"]), (door, "signed"), u)
            self.assertRegex(u["unit"], r"^session-\w+\.scope$")
            self.assertTrue(u["program"].startswith("/"), u)
        git = [u for u in log if u["purpose"] == "sshsig"][-1]
        self.assertEqual((git["namespace"], git["program"], git["door"]), ("git", "/usr/bin/ssh-keygen",
                                                                          "ssh-agent.sock"))
        human = self.a.puddle("log", "--lines", "1")
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertRegex(human.stdout, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d signed\s+/usr/bin/ssh-keygen \(session-\w+"
                                       r"\.scope\) sshsig namespace=git via ssh-agent.sock\n$")

    def test_refusals_and_failures_are_recorded(self):
        # Locked: a failure.
        locked = b"while locked " + os.urandom(8).hex().encode()
        reply = self.a.sock("SIGN " + b64(locked))[0]
        self.assertTrue(reply.startswith("ERR locked"), reply)
        (e,) = self.entries(FAILED, hashlib.sha256(locked).hexdigest())
        self.assertEqual(e["PUDDLE_OUTCOME"], "failed")
        self.assertIn("locked", e["PUDDLE_REASON"])
        # polkit says no: a refusal, through the bus door (and nothing signed).
        self.unlock()
        self.sysbus.add_rule("50-puddle-test-deny-sign", deny_rule("org.puddle.sign", self.session.user))
        try:
            denied = "denied " + os.urandom(8).hex()
            path = self.session.write_file("denied.txt", denied)
            wait_until(lambda: self.a.puddle("sign", path).returncode == 7, 10, what="polkit's denial")
            (e,) = self.entries(REFUSED, hashlib.sha256(denied.encode()).hexdigest())[:1]
            self.assertEqual((e["PUDDLE_DOOR"], e["PUDDLE_OUTCOME"]), ("dbus", "refused"), e)
            self.assertIn("org.puddle.sign", e["PUDDLE_REASON"])
        finally:
            self.sysbus.remove_rule("50-puddle-test-deny-sign")
        outcomes = {u["outcome"] for u in self.log_json("--since", "-1h")}
        self.assertTrue({"failed", "refused"} <= outcomes, outcomes)

    def test_log_shows_only_the_agents_entries(self):
        # Another program of the user sends an entry with the agent's MESSAGE_ID.
        forged_sha = "f" * 64
        p = self.session.run([PY, "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                                        "s.sendto(sys.argv[1].encode(), '/run/systemd/journal/socket')",
                              "MESSAGE=forged\nMESSAGE_ID=%s\nPUDDLE_OUTCOME=signed\nPUDDLE_DATA_SHA256=%s\n"
                              % (SIGNED, forged_sha)])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.entries(SIGNED, forged_sha)  # it is in the journal...
        self.assertNotIn(forged_sha, [u["sha256"] for u in self.log_json()])  # ...not in the record

    def test_new_requester_notice_and_health_warning(self):
        self.session.write_file(".config/puddle/puddle.toml", CONFIG + "[record]\nnew_requester_warning_hours = 2\n")
        self.a.s.systemctl("stop", "puddle-agent.service")
        try:
            self.unlock()
            # A program this user never used before: a copy of python under a new name.
            fresh = self.session.write_file("fresh-signer", "", mode=0o755)
            with open(os.path.realpath(PY), "rb") as src, open(fresh, "wb") as dst:
                dst.write(src.read())
            os.chmod(fresh, 0o755)
            # PYTHONHOME: the copy finds the standard library where python3 does.
            home = {"PYTHONHOME": sys.base_prefix}
            p = self.session.run([fresh, os.path.join(self.a.bindir, "sock_client.py")],
                                 input="SIGN " + b64(b"fresh") + "\n", env=home)
            self.assertEqual(p.returncode, 0, p.stderr)
            notices = [e for e in self.entries(NEW_REQUESTER) if e.get("PUDDLE_REQUESTER_EXE") == fresh]
            self.assertEqual(len(notices), 1, notices)
            self.assertEqual(notices[0]["PRIORITY"], "5")
            # A second use is no longer new.
            self.session.run([fresh, os.path.join(self.a.bindir, "sock_client.py")], input="SIGN " + b64(b"again") + "\n",
                             env=home)
            self.entries(SIGNED, hashlib.sha256(b"again").hexdigest())
            self.assertEqual(len([e for e in self.entries(NEW_REQUESTER) if e.get("PUDDLE_REQUESTER_EXE") == fresh]), 1)
            st = json.loads(self.a.puddle("status", "--json").stdout)
            self.assertEqual(st["health"]["state"], "warning", st)
            self.assertTrue(any(fresh in r for r in st["health"]["reasons"]), st)
        finally:
            self.session.write_file(".config/puddle/puddle.toml", CONFIG)
            self.a.s.systemctl("stop", "puddle-agent.service")
        st = json.loads(self.a.puddle("status", "--json").stdout)
        self.assertFalse(any("not seen before" in r for r in st["health"]["reasons"]), st)

    def test_status_counts_uses_since_unlock_and_names_the_last(self):
        self.unlock()
        for i in range(3):
            self.assertTrue(self.a.sock("SIGN " + b64(b"count %d" % i))[0].startswith("OK "))
        self.assertTrue(self.a.sock("SIGN " + b64(b"puddle-statement-no"))[0].startswith("ERR "))
        st = json.loads(self.a.puddle("status", "--json").stdout)
        self.assertEqual(st["uses"], {"signed": 3, "refused": 1}, st)
        self.assertEqual((st["last_use"]["outcome"], st["last_use"]["purpose"]), ("failed", "raw Sign"), st)
        self.assertEqual(st["last_use"]["program"], os.path.realpath(PY))
        human = self.a.puddle("status").stdout
        self.assertIn("uses: 3 signed, 1 refused since the last unlock", human)
        self.assertIn("last use:", human)
        # A new unlock starts the count again.
        self.a.puddle("lock")
        self.unlock()
        st = json.loads(self.a.puddle("status", "--json").stdout)
        self.assertEqual(st["uses"], {"signed": 0, "refused": 0}, st)


if __name__ == "__main__":
    main()

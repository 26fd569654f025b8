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
- `puddle status` counts the uses since the unlock and names the last one;
- another process of the user that kills the agent the instant it has a
  lone signature does not hide it: the entry was sent before the reply;
- with journald stopped (its sockets closed, as root), signing goes on, and
  health is Warning with the exact count of entries not written; once
  journald is back the next entries are written again, the count stays
  until the agent exits, and the agent's exit message says it.

And the ssh door's knowledge of where a login goes (part 3), with OpenSSH's
own client against an sshd on loopback inside the container:
- a login is recorded with the destination's host key, proved by the
  client's session-bind@openssh.com (the host's signature verified);
- over `ssh -A`, a login made on the far side through the forwarded agent
  is marked forwarded;
- [ssh] destinations refuses a login to a host key not listed and lets one
  that is listed through, while `git commit -S` (sshsig) keeps working.
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, PY, PolkitAgentTestCase, b64, main, wait_until  # noqa: E402
from test_polkit import deny_rule  # noqa: E402

SIGNED = "771c1db3bed348e4a798a749505f6e73"
REFUSED = "5823c246b21149f38ccb4add20f7bd1f"
FAILED = "5d60044917544189b37a5388b40bac93"
NEW_REQUESTER = "b634f29b364d4aa099c111b065beecb5"


class RecordBase(PolkitAgentTestCase):
    """The fixture and helpers; the tests are in the subclasses."""

    prefix = "pdr"

    @classmethod
    def setUpClass(cls):
        if not os.environ.get("PUDDLE_BOOTED"):
            raise unittest.SkipTest("SKIP: needs journald and a PAM login: runs in the booted container (tests/boot)")
        super().setUpClass()

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


class Record(RecordBase):
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
        # The count of what was not signed and the last use say the same.
        self.assertIn("uses: 3 signed, 1 refused or failed since the last unlock", human)
        self.assertIn("last use:", human)
        # Unlocked: the passphrase is not needed now, so no word of forgetting it.
        self.assertNotIn("forgotten passphrase", human)
        # A new unlock starts the count again.
        self.a.puddle("lock")
        self.unlock()
        st = json.loads(self.a.puddle("status", "--json").stdout)
        self.assertEqual(st["uses"], {"signed": 0, "refused": 0}, st)


# journald and every socket it listens on (the native socket the record goes
# to, /dev/log, the stdout streams, audit where the container has it).
JOURNALD_UNITS = ("systemd-journald.service", "systemd-journald.socket", "systemd-journald-dev-log.socket",
                  "systemd-journald-audit.socket")


class JournalStopped(RecordBase):
    N = 25

    @staticmethod
    def _systemctl(*args):
        return subprocess.run(["systemctl"] + list(args), capture_output=True, text=True, timeout=60)

    def _stop_journald(self):
        active = [u for u in JOURNALD_UNITS if self._systemctl("is-active", "--quiet", u).returncode == 0]
        p = self._systemctl("stop", *active)
        self.assertEqual(p.returncode, 0, p.stderr)
        return active

    def _start_journald(self, units):
        # Sockets first: the service would start them itself, but the manager
        # must be listening again before anyone reconnects.
        p = self._systemctl("start", *[u for u in units if u.endswith(".socket")] + ["systemd-journald.service"])
        wait_until(lambda: self._systemctl("is-active", "--quiet", "systemd-journald.service").returncode == 0, 30,
                   what="journald back")
        return p

    def status(self):
        p = self.a.puddle("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def bus_property(self, name):
        p = self.session.run(["busctl", "--user", "get-property", "org.puddle.Agent1", "/org/puddle/Agent1",
                              "org.puddle.Agent1", name])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def not_written(self, st):
        return [r for r in st["health"]["reasons"] if "entries of the usage record could not be written" in r]

    def test_signing_goes_on_and_the_entries_not_written_are_counted(self):
        self.unlock()
        # The agent's own connection to journald exists and nothing is queued.
        first = b"before the stop " + os.urandom(8).hex().encode()
        self.assertTrue(self.a.sock("SIGN " + b64(first))[0].startswith("OK "))
        self.entries(SIGNED, hashlib.sha256(first).hexdigest())
        self.assertEqual(self.not_written(self.status()), [])

        stopped = self._stop_journald()
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            with self.assertRaises(OSError, msg="journald's socket still takes entries"):
                s.sendto(b"MESSAGE=probe\n", "/run/systemd/journal/socket")
            s.close()
            t0 = time.monotonic()
            replies = self.a.sock(*["SIGN " + b64(b"journald stopped %d " % i + os.urandom(8).hex().encode())
                                    for i in range(self.N)])
            took = time.monotonic() - t0
            self.assertEqual(len(replies), self.N, replies)
            self.assertTrue(all(r.startswith("OK ") for r in replies), replies)
            self.assertLess(took, 10, "signing slowed down without journald")
            st = self.status()
            self.assertEqual(st["health"]["state"], "warning", st)
            (reason,) = self.not_written(st)
            self.assertTrue(reason.startswith("warning: %d entries of the usage record could not be written" % self.N),
                            reason)
            self.assertIn("journalctl -u systemd-journald", reason)
            self.assertEqual(self.bus_property("RecordNotWritten"), "t %d" % self.N)
            self.assertEqual(self.bus_property("Health"), 's "warning"')
            self.assertEqual(st["uses"]["signed"], self.N + 1, st)
        finally:
            started = self._start_journald(stopped)
        self.assertEqual(started.returncode, 0, started.stderr)

        # journald is back: the next entries are written, on a new connection.
        after = b"after the restart " + os.urandom(8).hex().encode()
        self.assertTrue(self.a.sock("SIGN " + b64(after))[0].startswith("OK "))
        (e,) = self.entries(SIGNED, hashlib.sha256(after).hexdigest())
        self.assertEqual(e["_SYSTEMD_USER_UNIT"], "puddle-agent.service")
        # The count is of the agent's lifetime: the record has a hole until
        # it exits, and the exit says how large.
        (reason,) = self.not_written(self.status())
        self.assertTrue(reason.startswith("warning: %d entries" % self.N), reason)
        self.a.s.systemctl("stop", "puddle-agent.service")
        self.session.wait_journal("%d usage record entries were not written to the journal" % self.N, 15)
        self.assertEqual(self.not_written(self.status()), [])


class KilledAgent(RecordBase):
    """puddle-agent(1) SECURITY, as another process of the user: it can kill
    the agent (it runs as the user), but a lone signature's entry is with
    journald before the reply, so killing the agent the instant the reply
    arrives does not hide that signature; the kill is in the journal too."""

    ATTACKER = r"""
import os, signal, socket, sys, time
path, pid, line = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
time.sleep(0.1)  # a quiet spell: longer than the record's 10 ms window
s.sendall(line.encode() + b"\n")
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
os.kill(pid, signal.SIGKILL)  # before anything else: the reply is all it waited for
print(reply.decode().strip())
"""

    def main_pid(self):
        p = self.session.systemctl("show", "-p", "MainPID", "--value", "puddle-agent.service")
        return int(p.stdout.strip())

    def test_a_kill_right_after_a_lone_signature_does_not_hide_it(self):
        self.unlock()
        self.assertTrue(self.a.sock("PUBKEY")[0].startswith("OK "))
        pid = self.main_pid()
        self.assertGreater(pid, 0)
        data = b"signed, then the agent killed " + os.urandom(8).hex().encode()
        p = self.session.run([PY, "-c", self.ATTACKER, self.a.sock_path, str(pid), "SIGN " + b64(data)])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("OK "), p.stdout)
        wait_until(lambda: self.main_pid() != pid, 10, what="the killed agent gone")
        (e,) = self.entries(SIGNED, hashlib.sha256(data).hexdigest())
        self.assertEqual(e["_PID"], str(pid), e)
        self.session.wait_journal("puddle-agent.service: Main process exited, code=killed, status=9/KILL", 15)


class Sshd:
    """An sshd of the test's own on 127.0.0.1 (ssh.service is masked in the
    containers), with a fresh Ed25519 host key; ended by PID."""

    def __init__(self, port=2222):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="puddle-sshd-")
        self.key = os.path.join(self.dir, "host_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key], check=True)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        cfg = os.path.join(self.dir, "sshd_config")
        with open(cfg, "w") as f:
            f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {self.key}\nPidFile none\nUsePAM no\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    "AuthorizedKeysFile .ssh/authorized_keys\nAllowAgentForwarding yes\nStrictModes no\n"
                    "LogLevel VERBOSE\n")
        self.log = open(os.path.join(self.dir, "sshd.log"), "w")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("sshd did not start")
                time.sleep(0.1)
        fp = subprocess.run(["ssh-keygen", "-l", "-f", self.key + ".pub"], capture_output=True, text=True, check=True)
        self.fingerprint = fp.stdout.split()[1]

    def text(self):
        with open(os.path.join(self.dir, "sshd.log")) as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SshDestinations(RecordBase):
    SSH = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]

    @classmethod
    def setUpClass(cls):
        if not os.path.exists("/usr/sbin/sshd"):
            raise unittest.SkipTest("SKIP: no sshd in this container (openssh-server)")
        super().setUpClass()
        try:
            # useradd leaves the password locked ("!"), which sshd without PAM
            # takes for a locked account; "*" is no password, not locked.
            subprocess.run(["usermod", "-p", "*", cls.session.user], check=True)
            cls.sshd = Sshd()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "sshd", None):
            cls.sshd.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        line = self.a.puddle("pubkey", "--ssh").stdout
        self.session.write_file(".ssh/authorized_keys", line)
        self.unlock()

    def ssh(self, *args, remote="true"):
        return self.session.run(self.SSH + list(args) + ["-p", str(self.sshd.port), self.session.user + "@127.0.0.1",
                                                           remote], env={"SSH_AUTH_SOCK": self.a.ssh_sock_path},
                                timeout=60)

    def set_destinations(self, keys):
        body = "[ssh]\ndestinations = [%s]\n" % ", ".join('"%s"' % k for k in keys) if keys is not None else ""
        self.session.write_file(".config/puddle/puddle.toml", CONFIG + body)
        self.a.s.systemctl("stop", "puddle-agent.service")
        self.unlock()

    def logins(self):
        return [u for u in self.log_json() if u["purpose"] == "ssh-login"]

    def test_a_login_names_its_verified_destination(self):
        before = len(self.logins())
        p = self.ssh()
        self.assertEqual(p.returncode, 0, p.stderr + self.sshd.text()[-2000:])
        wait_until(lambda: len(self.logins()) > before, 10, what="the login's record")
        u = self.logins()[-1]
        self.assertEqual((u["outcome"], u["host_key"], u["host_key_verified"], u["forwarded"]),
                         ("signed", self.sshd.fingerprint, True, False), u)
        self.assertEqual((u["ssh_user"], u["program"], u["door"]), (self.session.user, "/usr/bin/ssh",
                                                                     "ssh-agent.sock"))
        self.assertIn("ssh login as %s to %s" % (self.session.user, self.sshd.fingerprint),
                      self.a.puddle("log", "--lines", "1").stdout)

    def test_a_login_through_a_forwarded_agent_is_marked_forwarded(self):
        inner = " ".join(self.SSH + ["-p", str(self.sshd.port), self.session.user + "@127.0.0.1", "true"])
        before = len(self.logins())
        p = self.ssh("-A", remote=inner)
        self.assertEqual(p.returncode, 0, p.stderr + self.sshd.text()[-2000:])
        wait_until(lambda: len(self.logins()) >= before + 2, 10, what="two logins' records")
        outer, hop = self.logins()[-2:]
        self.assertFalse(outer["forwarded"], outer)
        self.assertTrue(hop["forwarded"], hop)
        self.assertIn("(forwarded)", hop["summary"])
        self.assertEqual((hop["host_key"], hop["host_key_verified"]), (self.sshd.fingerprint, True), hop)

    def test_destinations_hold_logins_and_leave_git_signing_alone(self):
        try:
            self.set_destinations(["SHA256:" + "A" * 43])
            p = self.ssh()
            self.assertNotEqual(p.returncode, 0, "a login to an unlisted host key went through")
            refused = [u for u in self.log_json() if u["outcome"] == "refused" and u["purpose"] == "ssh-login"]
            self.assertTrue(refused)
            self.assertIn("not in [ssh] destinations", refused[-1]["reason"])
            self.assertEqual(refused[-1]["host_key"], self.sshd.fingerprint)
            # git signing (sshsig) is not a login: the rule does not touch it.
            line = self.a.puddle("pubkey", "--ssh").stdout.strip()
            repo = os.path.join(self.session.home, "repo")
            self.session.run(["git", "init", "-q", repo], check=True)
            for k, v in (("user.name", "Puddle Test"), ("user.email", "me@puddle"), ("gpg.format", "ssh"),
                         ("user.signingkey", "key::" + line)):
                self.session.run(["git", "-C", repo, "config", k, v], check=True)
            self.session.write_file("repo/README", "hello\n")
            self.session.run(["git", "-C", repo, "add", "README"], check=True)
            c = self.session.run(["git", "-C", repo, "commit", "-S", "-q", "-m", "signed"],
                                 env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
            self.assertEqual(c.returncode, 0, c.stderr)
            self.assertIn("BEGIN SSH SIGNATURE", self.session.run(["git", "-C", repo, "cat-file", "commit",
                                                                  "HEAD"]).stdout)
            # Listed: the login goes through.
            self.set_destinations([self.sshd.fingerprint])
            p = self.ssh()
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            self.set_destinations(None)


if __name__ == "__main__":
    main()

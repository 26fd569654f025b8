"""The command line tells the truth on bad input (issue 15), with the real
agent under a real user manager: a CLI whose PUDDLE_HOME differs from the
agent's, an agent started by hand, refusals that travel through the agent,
a broken configuration and a stale session.unlocked. Each case checks the
exit code, the one-line message and its hint; every --json output is parsed
as strict UTF-8 JSON."""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time

import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, PASSPHRASE, PY, AgentTestCase, b64, main, wait_until  # noqa: E402
from cli_common import strict_json  # noqa: E402

CONFIG_FILE = ".config/puddle/puddle.toml"


# Holds one connection to agent.sock open (so the agent neither exits on idle
# nor is replaced by a fresh one) until its stdin closes.
HOLDER = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.path.join(os.environ["XDG_RUNTIME_DIR"], "puddle", "agent.sock"))
s.sendall(b"PUBKEY\n")
print(s.makefile("rb").readline().decode().strip(), flush=True)
sys.stdin.read()
"""


def decoded(b):
    return b.decode("utf-8", errors="strict") if isinstance(b, bytes) else b


def refusal(test, p, code):
    """Asserts that P exited with CODE, printing exactly one message line
    ('puddle: ...') and one hint line on stderr (and nothing on stdout);
    returns (message, hint)."""
    err = decoded(p.stderr)
    test.assertEqual(p.returncode, code, "exit %d, stderr: %r" % (p.returncode, err))
    test.assertEqual(decoded(p.stdout), "", err)
    lines = err.splitlines()
    print("\n  exit %d: %s" % (p.returncode, "\n  ".join(lines)), file=sys.stderr)
    test.assertEqual(len(lines), 2, "expected a message and a hint line, got %r" % err)
    test.assertTrue(lines[0].startswith("puddle: "), lines)
    test.assertTrue(lines[1].startswith("hint: "), lines)
    return lines[0], lines[1]


def reasons_of(st):
    return st["health"]["reasons"]


class CliAgentCase(AgentTestCase):
    def puddle_env(self, env, *args, passphrases=None, json_out=False):
        """puddle as the user with extra environment variables (run_with_passphrases
        takes none, so through env(1)); with json_out, bytes output (input=b"")."""
        pre = ["env"] + ["%s=%s" % kv for kv in env.items()] if env else []
        return self._session.run_with_passphrases(pre + [os.path.join(self.a.bindir, "puddle"), *args], passphrases,
                                                  input=b"" if json_out else None)

    def status(self, env=None):
        """puddle status --json: exit 0 and strict UTF-8 JSON, exactly one line."""
        p = self.puddle_env(env, "status", "--json", json_out=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The brief's own check, then cli_common's stricter one (one line, no
        # NaN, no duplicate keys, no lone surrogate escapes).
        json.loads(p.stdout.decode("utf-8", errors="strict"))
        return strict_json(p.stdout)


class AgentServesAnotherStateDirectory(CliAgentCase):
    """The user's identity lives in ~/elsewhere (PUDDLE_HOME of the shell) while
    the agent, started by the user manager without PUDDLE_HOME, serves
    ~/.puddle, which holds none."""

    initialize = False

    def test_mismatch_is_named_with_its_fix_and_the_fix_works(self):
        s = self._session
        here = os.path.join(s.home, "elsewhere")
        env = {"PUDDLE_HOME": here}
        self.addCleanup(self.restore_manager_environment, env)
        p = self.puddle_env(env, "init", "--passphrase-fd", "FD", passphrases=[PASSPHRASE])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(here, "identity.pub")) as f:
            pub = f.read().strip()
        self.assertFalse(os.path.exists(os.path.join(s.home, ".puddle", "identity.pub")))

        p = self.puddle_env(env, "unlock", "--passphrase-fd", "FD", "--no-watch", passphrases=[PASSPHRASE])
        msg, hint = refusal(self, p, 1)
        self.assertIn("the agent serves another state directory than " + here, msg)
        self.assertIn("it finds no identity there", msg)
        self.assertIn(pub, msg)
        self.assertIn("systemctl --user set-environment PUDDLE_HOME=" + here, hint)

        st = self.status(env)
        self.assertEqual(st["state_dir"], here)
        self.assertEqual(st["health"]["state"], "degraded", st)
        self.assertTrue(any("serves another state directory" in r for r in reasons_of(st)), st)
        self.assertFalse(st["unlocked"], st)

        # Follow the hint word for word, as a user would paste it.
        m = re.search(r"(systemctl --user set-environment PUDDLE_HOME=\S+ && "
                      r"systemctl --user stop puddle-agent\.service)", hint)
        self.assertIsNotNone(m, hint)
        r = s.run(["sh", "-c", m.group(1)])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        shown = s.systemctl("show-environment").stdout
        self.assertIn("PUDDLE_HOME=" + here + "\n", shown)

        p = self.puddle_env(env, "unlock", "--passphrase-fd", "FD", "--no-watch", passphrases=[PASSPHRASE])
        self.assertEqual(p.returncode, 0, p.stderr)
        st = self.status(env)
        self.assertTrue(st["unlocked"], st)
        self.assertEqual(st["pubkey"], pub)
        self.assertFalse(any("serves another state directory" in r for r in reasons_of(st)), st)
        self.assertNotEqual(st["health"]["state"], "degraded", st)
        self.assertEqual(self.puddle_env(env, "lock").returncode, 0)

    def restore_manager_environment(self, env):
        self.puddle_env(env, "lock")
        self._session.systemctl("unset-environment", "PUDDLE_HOME", check=False)
        self._session.systemctl("stop", "puddle-agent.service", check=False)


class AgentStartedByHand(CliAgentCase):
    def test_unlock_and_sign_with_a_hand_started_agent(self):
        s = self._session
        hand_sock = os.path.join(s.runtime_dir, "hand.sock")
        s.systemctl("stop", "puddle-agent.socket", "puddle-agent-ssh.socket", "puddle-agent.service")
        agent = None

        def cleanup():
            if agent is not None and agent.poll() is None:
                self.a.puddle("lock")
                agent.send_signal(signal.SIGTERM)
                try:
                    agent.wait(10)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait(10)
            if os.path.lexists(hand_sock):
                os.unlink(hand_sock)
            s.systemctl("start", "puddle-agent.socket", "puddle-agent-ssh.socket", check=False)
        self.addCleanup(cleanup)

        agent = s.popen([os.path.join(self.a.bindir, "puddle-agent"), "--socket", hand_sock],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def owner_pid():
            if agent.poll() is not None:
                raise AssertionError("the hand-started agent exited (%s): %s"
                                     % (agent.returncode, agent.stderr.read().decode(errors="replace")))
            r = s.run(["busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                       "org.freedesktop.DBus", "GetConnectionUnixProcessID", "s", "org.puddle.Agent1"])
            return int(r.stdout.split()[1]) if r.returncode == 0 else None
        # Owned by that process, not by an agent the bus activated.
        self.assertEqual(wait_until(owner_pid, 10, what="org.puddle.Agent1 on the user bus"), agent.pid)

        # Right away: locked and idle for exit_idle_seconds (3) it would exit.
        p = self.a.unlock("--no-watch")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        st = self.status()
        self.assertTrue(st["agent_reachable"], st)
        self.assertTrue(st["unlocked"], st)
        self.assertEqual(st["health"]["state"], "healthy", st)

        data = b"signed by a hand-started agent"
        r = s.run([PY, os.path.join(self.a.bindir, "sock_client.py"), "--socket", hand_sock], input=b"STATUS\nSIGN " + b64(data).encode() + b"\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        replies = json.loads(r.stdout)
        self.assertTrue(replies[0].startswith("OK "), replies)
        status = json.loads(replies[0][3:])
        self.assertIs(status["unlocked"], True, replies)
        self.assertEqual(status["pubkey"], self.pub)
        self.assertTrue(replies[1].startswith("OK "), replies)
        nacl.signing.VerifyKey(bytes.fromhex(self.pub[len("ed25519:"):])).verify(
            data, base64.b64decode(replies[1][3:]))

        # The session key is in the agent's own process keyring: nothing in @u.
        k = s.run(["keyctl", "show", "@u"])
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertNotRegex(k.stdout, r"(?m)\b[a-z_]+: puddle:", k.stdout)
        self.assertEqual(agent.poll(), None)


class RefusalsThroughTheAgent(CliAgentCase):
    def unlock(self, passphrase=PASSPHRASE):
        return self.a.puddle("unlock", "--passphrase-fd", "FD", "--no-watch", passphrases=[passphrase])

    def assert_locked(self):
        st = self.status()
        self.assertFalse(st["unlocked"], st)
        return st

    def test_wrong_passphrase(self):
        msg, hint = refusal(self, self.unlock("not the passphrase"), 5)
        self.assertIn("unlock", msg)
        self.assertGreater(len(hint), len("hint: "))
        self.assert_locked()

    def test_world_writable_wrapped_file(self):
        wrapped = self.a.state_file("identity.wrapped")
        os.chmod(wrapped, 0o666)
        self.addCleanup(os.chmod, wrapped, 0o600)
        msg, hint = refusal(self, self.unlock(), 1)
        self.assertIn(wrapped, msg)
        self.assertIn("chmod 600 " + wrapped, hint)
        st = self.assert_locked()
        self.assertEqual(st["health"]["state"], "degraded", st)
        self.assertTrue(any(wrapped in r and "chmod 600" in r for r in reasons_of(st)), st)
        # The agent, asked directly, refuses it too (the CLI's check first
        # only gives the refusal its hint).
        self.assertIn("error", self.a.bus_unlock(0))
        self.assert_locked()

    def test_missing_salt_is_an_incomplete_identity(self):
        salt = self.a.state_file("identity.salt")
        aside = self.a.state_file("..salt-aside")
        os.rename(salt, aside)
        self.addCleanup(os.rename, aside, salt)
        msg, hint = refusal(self, self.unlock(), 4)
        self.assertIn("incomplete identity", msg)
        self.assertIn("identity.salt", msg)
        self.assertIn("puddle join", hint)
        st = self.status()
        self.assertEqual(st["health"]["state"], "degraded", st)
        self.assertTrue(any("incomplete identity" in r for r in reasons_of(st)), st)
        self.assertIn("error", self.a.bus_unlock(0))
        self.assertFalse(self.status()["unlocked"])


class ConfigurationError(CliAgentCase):
    def test_invalid_configuration(self):
        s = self._session
        path = s.write_file(CONFIG_FILE, '[agent]\nidle_timeout_minutes = "soon"\n')
        self.addCleanup(s.write_file, CONFIG_FILE, CONFIG)
        # Without --passphrase-fd and without a terminal a passphrase prompt
        # would fail on that; the configuration is refused before.
        for args in ((), ("--passphrase-fd", "FD")):
            p = self.a.puddle("unlock", "--no-watch", *args, passphrases=[PASSPHRASE] if args else None)
            msg, hint = refusal(self, p, 1)
            self.assertIn("invalid configuration", msg)
            self.assertIn(path + ":2: agent.idle_timeout_minutes", msg)
            self.assertNotIn("passphrase", msg)
            self.assertIn(path, hint)
        st = self.status()
        self.assertEqual(st["health"]["state"], "degraded", st)
        self.assertTrue(any(r.startswith("degraded: configuration:") for r in reasons_of(st)), st)
        self.assertFalse(st["unlocked"], st)
        p = self.a.puddle("pubkey")
        self.assertEqual((p.returncode, p.stdout), (0, self.pub + "\n"), p.stderr)


class StaleSessionFile(CliAgentCase):
    def test_stale_session_unlocked_is_a_warning(self):
        s = self._session
        # One connection held open: the agent runs (locked) throughout and is
        # not replaced by a fresh one, which would remove the file at start.
        holder = s.popen([PY, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.wait, 10)
        self.addCleanup(holder.stdin.close)
        self.assertEqual(holder.stdout.readline().strip(), "OK " + self.pub)
        agent = self.a.agent_pid()
        self.assertGreater(agent, 0)
        st = self.status()
        self.assertFalse(st["unlocked"], st)
        self.assertEqual(st["health"]["state"], "healthy", st)

        gone = s.run(["sh", "-c", "echo $$"])
        dead = int(gone.stdout)
        wait_until(lambda: not os.path.exists("/proc/%d" % dead), 5, what="the shell to be reaped")
        session_file = self.a.state_file("session.unlocked")
        self.addCleanup(lambda: os.path.exists(session_file) and os.unlink(session_file))
        s.write_file(".puddle/session.unlocked", json.dumps(
            {"agent_pid": dead, "watch_pid": 0, "lock_deadline": int(time.time()) - 3600, "idle_timeout_s": 60,
             "pubkey": self.pub}), mode=0o600)

        st = self.status()
        self.assertEqual(self.a.agent_pid(), agent, "the agent was replaced")
        self.assertFalse(st["unlocked"], st)
        self.assertEqual(st["health"]["state"], "warning", st)
        stale = [r for r in reasons_of(st) if "is stale" in r]
        self.assertEqual(len(stale), 1, st)
        self.assertTrue(stale[0].startswith("warning: " + session_file + " is stale"), stale)
        self.assertIn("rm " + session_file, stale[0])


if __name__ == "__main__":
    main()

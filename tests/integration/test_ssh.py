"""The puddle key with the real OpenSSH clients and git, through the agent's
ssh-agent door ($XDG_RUNTIME_DIR/puddle/ssh-agent.sock)."""
import json
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from agent_fixture import AgentTestCase, main  # noqa: E402


class OpenSsh(AgentTestCase):
    def ssh_env(self):
        return {"SSH_AUTH_SOCK": self.a.ssh_sock_path}

    def run_user(self, argv, input=None, cwd=None):
        return self._session.run(argv, input=input, env=self.ssh_env(), cwd=cwd)

    def pub_line(self):
        p = self.a.puddle("pubkey", "--ssh")
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def test_pubkey_ssh_line_is_the_same_key(self):
        line = self.pub_line()
        kind, blob, comment = line.split(" ")
        self.assertEqual(kind, "ssh-ed25519")
        self.assertEqual(comment, "puddle:" + self.pub[8:24])
        path = self._session.write_file("k.pub", line + "\n")
        fp = self.run_user(["ssh-keygen", "-l", "-f", path])
        self.assertEqual(fp.returncode, 0, fp.stderr)
        self.assertIn("ED25519", fp.stdout)

    def test_locked_agent_lists_the_key_saying_it_is_locked(self):
        # Not a silent "agent has no identities": the comment says why a
        # signature will be refused and what to do, and ssh prints it.
        p = self.run_user(["ssh-add", "-L"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), self.pub_line() + " (locked: run 'puddle unlock')")
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.assertEqual(self.run_user(["ssh-add", "-L"]).stdout.strip(), self.pub_line())

    def test_unlocked_agent_lists_the_puddle_key(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        p = self.run_user(["ssh-add", "-L"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), self.pub_line())
        self.assertEqual(self.run_user(["ssh-add", "-T", self._session.write_file("k.pub", self.pub_line() + "\n")])
                         .returncode, 0)

    def test_the_comment_is_the_friendly_name_when_claimed(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.assertEqual(self.a.puddle("name", "set", "sshname").returncode, 0)
        try:
            p = self.run_user(["ssh-add", "-L"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(p.stdout.strip().endswith(" sshname"), p.stdout)
        finally:
            self.a.puddle("name", "clear")

    def test_ssh_keygen_sign_through_the_agent_and_verify(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        pub = self._session.write_file("id_puddle.pub", self.pub_line() + "\n")
        data = self._session.write_file("data.txt", "signed by puddle through ssh-keygen\n")
        p = self.run_user(["ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", data])
        self.assertEqual(p.returncode, 0, p.stderr)
        allowed = self._session.write_file("allowed_signers", "me@puddle " + self.pub_line() + "\n")
        with open(data + ".sig") as f:
            self.assertIn("BEGIN SSH SIGNATURE", f.read())
        with open(data, "rb") as f:
            v = self._session.run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "me@puddle", "-n", "file",
                                   "-s", data + ".sig"], input=f.read())
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertIn(b"Good", v.stdout)
        # Locked: the agent refuses and ssh-keygen fails.
        self.a.puddle("lock")
        os.unlink(data + ".sig")
        p = self.run_user(["ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", data])
        self.assertNotEqual(p.returncode, 0)

    def test_git_commit_signed_with_ssh_format_verifies(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        home = self._session.home
        allowed = self._session.write_file("allowed_signers", "me@puddle " + self.pub_line() + "\n")
        repo = os.path.join(home, "repo")
        self._session.run(["git", "init", "-q", repo], check=True)
        for k, v in (("user.name", "Puddle Test"), ("user.email", "me@puddle"), ("gpg.format", "ssh"),
                     ("user.signingkey", "key::" + self.pub_line()),
                     ("gpg.ssh.allowedSignersFile", allowed)):
            self._session.run(["git", "-C", repo, "config", k, v], check=True)
        self._session.write_file("repo/README", "hello\n")
        self._session.run(["git", "-C", repo, "add", "README"], check=True)
        c = self.run_user(["git", "-C", repo, "commit", "-S", "-q", "-m", "signed by puddle"])
        self.assertEqual(c.returncode, 0, c.stderr)
        v = self.run_user(["git", "-C", repo, "verify-commit", "HEAD"])
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertIn('Good "git" signature for me@puddle', v.stderr)

    def test_adding_removing_and_locking_are_refused(self):
        key = os.path.join(self._session.home, "other_key")
        self._session.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        p = self.run_user(["ssh-add", key])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("refused", p.stderr)
        self.assertNotEqual(self.run_user(["ssh-add", "-D"]).returncode, 0)
        self.assertNotEqual(self.run_user(["ssh-add", "-x"], input="pw\npw\n").returncode, 0)

    def test_garbage_on_the_ssh_door_leaves_the_agent_serving(self):
        pid_before = None
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        pid_before = self.a.agent_pid()
        script = ("import socket,os,sys\n"
                  "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
                  "s.sendall(b'\\x00\\x00\\x00\\x05\\x0d\\x00\\x00\\x00\\xff' + os.urandom(300))\n"
                  "try:\n"
                  "    s.sendall(b'\\xff\\xff\\xff\\xff')\n"
                  "except (BrokenPipeError, ConnectionResetError):\n"
                  "    pass  # the agent may have answered and closed already\n"
                  "s.settimeout(5)\n"
                  "d=b''\n"
                  "while True:\n"
                  "    c=s.recv(100)\n"
                  "    if not c: break\n"
                  "    d+=c\n"
                  "print(d.hex())\n")
        p = self._session.run(["/usr/bin/python3", "-c", script, self.a.ssh_sock_path])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.strip().startswith("0000000105"), p.stdout)  # one SSH_AGENT_FAILURE, then closed
        self.assertEqual(self.run_user(["ssh-add", "-L"]).returncode, 0)
        self.assertEqual(self.a.agent_pid(), pid_before)

    def extension_probe(self):
        """ssh_extension_probe.py's replies, on one connection as the user."""
        # Both files: the probe takes the agent protocol's framing from ssh_probe.py.
        for name in ("ssh_probe.py", "ssh_extension_probe.py"):
            shutil.copy2(os.path.join(HERE, name), os.path.join(self.a.bindir, name))
            os.chown(os.path.join(self.a.bindir, name), self._session.uid, self._session.gid)
        probe = os.path.join(self.a.bindir, "ssh_extension_probe.py")
        p = self._session.run(["/usr/bin/python3", probe, self.a.ssh_sock_path], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def locked(self):
        reply = self.a.sock("STATUS")[0]
        return not json.loads(reply[3:])["unlocked"]

    def test_extensions_are_answered_as_rfc_9987_says_while_locked(self):
        # setUp locked the agent: the screen lock's state, in which ssh
        # binds its connections too.
        self.assertTrue(self.locked())
        r = self.extension_probe()
        # query: SSH_AGENT_EXTENSION_RESPONSE, "query", the names (ssh-add -Q).
        self.assertEqual(r["query"]["type"], 29, r)
        self.assertEqual(r["query"]["echo"], "query", r)
        self.assertEqual(r["query"]["names"], ["query", "session-bind@openssh.com"], r)
        # An extension the door does not know: the generic SSH_AGENT_FAILURE.
        self.assertEqual(r["unknown"], 5, r)
        # A known one that fails: SSH_AGENT_EXTENSION_FAILURE.
        self.assertEqual(r["bad_signature"], 28, r)
        # Valid bindings are recorded while locked, with OpenSSH's rules: the
        # same forwarding binding again is no new record; after a binding for
        # authentication, no other.
        self.assertEqual(r["bind"], 6, r)
        self.assertEqual(r["bind_again"], 6, r)
        self.assertEqual(r["bind_auth"], 6, r)
        self.assertEqual(r["bind_after_auth"], 28, r)
        self.assertTrue(self.locked())

    def test_extensions_are_answered_the_same_while_unlocked(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        r = self.extension_probe()
        self.assertEqual((r["query"]["type"], r["unknown"], r["bad_signature"], r["bind"], r["bind_again"],
                          r["bind_auth"], r["bind_after_auth"]), (29, 5, 28, 6, 6, 6, 28), r)


if __name__ == "__main__":
    main()

"""puddle setup ssh and puddle setup git with the real OpenSSH client, the
real git and the agent: a new terminal (an environment with no SSH_AUTH_SOCK,
or one naming another agent) reaches the puddle key, and git verify-commit
follows the rotation log across a rekey."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import PASSPHRASE, AgentTestCase, main  # noqa: E402

EMAIL = "me@example.org"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class SetupSshAndGit(AgentTestCase):
    def run_user(self, argv, env=None, cwd=None):
        # The harness's environment has no SSH_AUTH_SOCK: a new terminal that
        # environment.d did not reach (a text console, an ssh login).
        return self._session.run(argv, env=env or {}, cwd=cwd)

    def read(self, rel):
        with open(os.path.join(self._session.home, rel), "rb") as f:
            return f.read()

    def test_setup_ssh_sends_ssh_to_the_agent_and_undo_restores_the_config(self):
        home = self._session.home
        before = b"Host work\n  IdentityAgent /tmp/other-agent.sock\n"
        self._session.write_file(".ssh/config", before.decode(), mode=0o600)
        p = self._session.run([os.path.join(self.a.bindir, "puddle"), "setup", "ssh"],
                              env={"SSH_AUTH_SOCK": "/run/user/1/keyring/ssh"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("displaced: IdentityAgent /tmp/other-agent.sock", p.stdout)
        self.assertIn("gnome-keyring's ssh agent", p.stdout)
        # ssh itself resolves the agent to puddle's door, for any host, even the one that named another.
        for host in ("example.org", "work"):
            g = self.run_user(["ssh", "-G", host])
            self.assertEqual(g.returncode, 0, g.stderr)
            lines = [l for l in g.stdout.splitlines() if l.startswith("identityagent ")]
            self.assertEqual(len(lines), 1, g.stdout)
            self.assertIn(lines[0].split(" ", 1)[1].replace("%i", str(self._session.uid)).strip('"'),
                          (self.a.ssh_sock_path,), lines)
        # The user manager has puddle's SSH_AUTH_SOCK now (new terminals), over whatever set it
        # before -- on Debian 13, OpenSSH's own ssh-agent.socket, enabled for every user --
        # and sets it again at each login: environment.d, and puddle's socket ordered after
        # the agents' sockets that set it when they start.
        self._session.systemctl("daemon-reload")
        env = self._session.systemctl("show-environment").stdout
        self.assertIn("SSH_AUTH_SOCK=" + self.a.ssh_sock_path, env.splitlines())
        dropin = os.path.join(home, ".config/systemd/user/puddle-agent-ssh.socket.d/50-puddle-setup-ssh.conf")
        self.assertTrue(os.path.exists(dropin))
        shown = self._session.systemctl("show", "-p", "After", "-p", "ExecStartPost", "puddle-agent-ssh.socket").stdout
        self.assertIn("ssh-agent.socket", shown)
        self.assertIn("set-environment SSH_AUTH_SOCK=", shown)
        if "openssh_agent" in p.stdout:  # Debian 13: named as the agent puddle takes over from
            self.assertIn("OpenSSH's ssh-agent, from its ssh-agent.socket", p.stdout)
        # ... and that socket is the agent: ssh-add lists the key (locked: saying so).
        listed = self.run_user(["ssh-add", "-L"], env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("(locked: run 'puddle unlock')", listed.stdout)
        # Again: nothing changes.
        again = self.a.puddle("setup", "ssh")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("nothing changed", again.stdout)
        u = self.a.puddle("setup", "ssh", "--undo")
        self.assertEqual(u.returncode, 0, u.stderr)
        self.assertEqual(self.read(".ssh/config"), before)
        self.assertFalse(os.path.exists(os.path.join(home, ".config/environment.d/90-puddle-ssh-agent.conf")))
        self.assertFalse(os.path.exists(dropin))
        env = self._session.systemctl("show-environment").stdout
        self.assertNotIn("SSH_AUTH_SOCK=" + self.a.ssh_sock_path, env.splitlines())

    def test_ssh_copy_id_installs_pubkey_ssh_and_ssh_logs_in_through_the_agent(self):
        """A real login: an sshd of the user's own in inetd mode (sshd -i as
        ProxyCommand, its own host key, a throwaway key to get in the first
        time), ssh-copy-id installing 'puddle pubkey --ssh', then ssh with
        nothing but 'puddle setup ssh' pointing it at the agent."""
        if not os.path.exists("/usr/sbin/sshd"):
            self.skipTest("no sshd here (openssh-server)")
        home = self._session.home
        d = os.path.join(home, "sshd")
        run = self.run_user
        run(["mkdir", "-p", d])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "host_key")])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "bootstrap")])
        run(["cp", os.path.join(d, "bootstrap.pub"), os.path.join(d, "bootstrap_keys")])
        self._session.write_file("sshd/sshd_config", "HostKey %s/host_key\nUsePAM no\nStrictModes no\n"
                                 "AuthorizedKeysFile .ssh/authorized_keys %s/bootstrap_keys\n"
                                 "PasswordAuthentication no\nKbdInteractiveAuthentication no\n" % (d, d))
        self.assertEqual(self.a.puddle("setup", "ssh").returncode, 0)
        with open(os.path.join(home, ".ssh/config"), "a") as f:
            f.write("Host puddletest\n  ProxyCommand /usr/sbin/sshd -i -f %s/sshd_config\n"
                    "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  BatchMode yes\n"
                    "  LogLevel ERROR\n" % d)
        try:
            pub = self._session.write_file(".ssh/puddle.pub", self.a.puddle("pubkey", "--ssh").stdout)
            c = run(["ssh-copy-id", "-f", "-i", pub, "-o", "IdentityFile=" + os.path.join(d, "bootstrap"),
                     "-o", "IdentitiesOnly=yes", "puddletest"])
            self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
            with open(os.path.join(home, ".ssh/authorized_keys")) as f:
                self.assertIn(self.a.puddle("pubkey", "--ssh").stdout.strip(), f.read())
            # Locked: ssh says why, in the user's terminal.
            locked = run(["ssh", "puddletest", "true"])
            self.assertNotEqual(locked.returncode, 0)
            self.assertIn("(locked: run 'puddle unlock')", locked.stderr)
            self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
            ok = run(["ssh", "puddletest", "echo", "in"])
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertEqual(ok.stdout.strip(), "in")
        finally:
            self.a.puddle("setup", "ssh", "--undo")

    def git(self, repo, *args, env=None):
        return self.run_user(["git", "-C", repo] + list(args), env=env)

    def commit(self, repo, msg, when, env=None):
        self._session.write_file(os.path.relpath(os.path.join(repo, "f"), self._session.home), msg + "\n")
        self.assertEqual(self.git(repo, "add", "f").returncode, 0)
        e = {"GIT_COMMITTER_DATE": iso(when), "GIT_AUTHOR_DATE": iso(when)}
        e.update(env or {})
        c = self.git(repo, "commit", "-S", "-q", "-m", msg, env=e)
        self.assertEqual(c.returncode, 0, c.stderr)
        return self.git(repo, "rev-parse", "HEAD").stdout.strip()

    def verifies(self, repo, rev):
        v = self.git(repo, "verify-commit", rev)
        return v.returncode == 0, v.stderr

    def test_setup_git_signs_from_a_new_terminal_and_verify_follows_a_rekey(self):
        home = self._session.home
        for k, v in (("user.email", EMAIL), ("user.name", "Puddle Test")):
            self.run_user(["git", "config", "--global", k, v])
        gitconfig = self.read(".gitconfig")
        p = self.a.puddle("setup", "git")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        repo = os.path.join(home, "repo")
        self.run_user(["git", "init", "-q", repo])
        now = int(time.time())
        # No SSH_AUTH_SOCK, and one naming another agent: gpg.ssh.program reaches puddle-agent either way.
        old_now = self.commit(repo, "old key, now", now - 60)
        old_future = self.commit(repo, "old key, dated after the rekey", now + 86400,
                                 env={"SSH_AUTH_SOCK": "/tmp/not-an-agent.sock"})
        ok, err = self.verifies(repo, old_now)
        self.assertTrue(ok, err)
        self.assertIn('Good "git" signature for ' + EMAIL, err)
        self.assertTrue(self.verifies(repo, old_future)[0])

        r = self.a.puddle("rekey", "--passphrase-fd", "FD", passphrases=[PASSPHRASE])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.a.state_file("git_allowed_signers")) as f:
            signers = f.read()
        self.assertEqual(len(signers.splitlines()), 2, signers)
        # The commit made before the rekey still verifies; the one the old key
        # signed with a date after its retirement does not.
        ok, err = self.verifies(repo, old_now)
        self.assertTrue(ok, err)
        ok, err = self.verifies(repo, old_future)
        self.assertFalse(ok, err)
        # The new key (the agent moved its session to it) signs and verifies;
        # dated before it became current, it does not.
        new_now = self.commit(repo, "new key", int(time.time()) + 5)
        ok, err = self.verifies(repo, new_now)
        self.assertTrue(ok, err)
        new_past = self.commit(repo, "new key, dated before the rekey", now - 3600)
        self.assertFalse(self.verifies(repo, new_past)[0])
        # A locked key: git fails, and the key is not silently missing.
        self.a.puddle("lock")
        self._session.write_file("repo/f", "locked\n")
        self.git(repo, "add", "f")
        c = self.git(repo, "commit", "-S", "-q", "-m", "locked")
        self.assertNotEqual(c.returncode, 0)

        u = self.a.puddle("setup", "git", "--undo")
        self.assertEqual(u.returncode, 0, u.stderr)
        self.assertEqual(self.read(".gitconfig"), gitconfig)
        self.assertFalse(os.path.exists(self.a.state_file("git_allowed_signers")))


if __name__ == "__main__":
    main()

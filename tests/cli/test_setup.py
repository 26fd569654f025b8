"""puddle setup ssh | git without the agent: the files it writes, that a
second run changes nothing, that --undo gives back the user's files byte for
byte, what it says it displaced, and its refusals (exit codes of puddle(1)).
With the agent, real ssh logins and git signatures: tests/integration/test_setup.py."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_common import main, PuddleCase  # noqa: E402

PASS = "setup passphrase"
ENV_FILE = "environment.d/90-puddle-ssh-agent.conf"


class Setup(PuddleCase):
    def setUp(self):
        super().setUp()
        self.env["XDG_RUNTIME_DIR"] = os.path.join(self.tmp, "run")
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)

    def path(self, rel):
        return os.path.join(self.tmp, rel)

    def write(self, rel, data, mode=0o600):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "wb") as f:
            f.write(data)
        os.chmod(self.path(rel), mode)

    def read(self, rel):
        with open(self.path(rel), "rb") as f:
            return f.read()

    def ok(self, *args, env_extra=None):
        p = self.run_puddle(*args, env_extra=env_extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode()

    def git(self, *args):
        return subprocess.run(["git", *args], env=self.env, capture_output=True, text=True)

    # ---- ssh

    def test_setup_ssh_puts_its_block_first_and_undo_gives_the_config_back(self):
        before = b"Host *\n  ServerAliveInterval 30\nHost gh\n  HostName github.com"  # no final line break
        self.write(".ssh/config", before, 0o640)
        out = self.ok("setup", "ssh")
        self.assertIn("wrote ~/.ssh/config", out)
        self.assertIn("wrote ~/config/" + ENV_FILE, out)  # XDG_CONFIG_HOME is ~/config here
        text = self.read(".ssh/config")
        self.assertTrue(text.startswith(b"# >>> puddle setup ssh"), text)
        self.assertIn(b'IdentityAgent "' + self.path("run/puddle/ssh-agent.sock").encode() + b'"\n', text)
        self.assertTrue(text.endswith(before))
        self.assertEqual(os.stat(self.path(".ssh/config")).st_mode & 0o777, 0o640)  # the mode is kept
        self.assertEqual(self.read("config/" + ENV_FILE).decode().splitlines()[1],
                         "SSH_AUTH_SOCK=${XDG_RUNTIME_DIR}/puddle/ssh-agent.sock")
        # Again: nothing changes.
        self.assertIn("nothing changed", self.ok("setup", "ssh"))
        self.assertEqual(self.read(".ssh/config"), text)
        # Undo: the bytes that were there.
        self.ok("setup", "ssh", "--undo")
        self.assertEqual(self.read(".ssh/config"), before)
        self.assertFalse(os.path.exists(self.path("config/" + ENV_FILE)))
        self.assertFalse(os.path.exists(os.path.join(self.home, "setup-ssh.json")))
        self.assertIn("nothing to undo", self.ok("setup", "ssh", "--undo"))

    def test_a_config_puddle_created_goes_away_with_undo_and_so_does_the_ssh_directory(self):
        self.ok("setup", "ssh")
        self.assertEqual(os.stat(self.path(".ssh")).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(self.path(".ssh/config")).st_mode & 0o777, 0o600)
        out = self.ok("setup", "ssh", "--undo")
        self.assertIn("removed ~/.ssh/config (puddle had created it)", out)
        self.assertFalse(os.path.exists(self.path(".ssh")))

    def test_lines_the_user_added_after_setup_stay_after_undo(self):
        self.write(".ssh/config", b"Host a\n")
        self.ok("setup", "ssh")
        with open(self.path(".ssh/config"), "ab") as f:
            f.write(b"Host b\n")
        self.ok("setup", "ssh", "--undo")
        self.assertEqual(self.read(".ssh/config"), b"Host a\nHost b\n")

    def test_setup_ssh_names_the_agents_it_displaced(self):
        self.write(".ssh/config", b"Host work\n  IdentityAgent ~/.1password/agent.sock\n")
        self.write("config/environment.d/50-gpg.conf", b"SSH_AUTH_SOCK=${XDG_RUNTIME_DIR}/gnupg/S.gpg-agent.ssh\n")
        out = self.ok("setup", "ssh", env_extra={"SSH_AUTH_SOCK": "/run/user/1000/gcr/ssh"})
        self.assertIn("displaced: IdentityAgent ~/.1password/agent.sock (~/.ssh/config line 2, under 'Host work')",
                      out)
        self.assertIn("displaced: SSH_AUTH_SOCK=/run/user/1000/gcr/ssh (gcr-ssh-agent (GNOME)) in this shell", out)
        self.assertIn("displaced: SSH_AUTH_SOCK=${XDG_RUNTIME_DIR}/gnupg/S.gpg-agent.ssh "
                      "(~/config/environment.d/50-gpg.conf): 90-puddle-ssh-agent.conf is read after it and wins", out)
        # No socket in this test's runtime directory: said, with the fix.
        p = self.run_puddle("setup", "ssh")
        self.assertIn(b"systemctl --user enable --now puddle-agent-ssh.socket", p.stderr)

    def test_a_symlinked_config_is_edited_where_it_points(self):
        self.write("dotfiles/ssh_config", b"Host a\n")
        os.makedirs(self.path(".ssh"), mode=0o700)
        os.symlink(self.path("dotfiles/ssh_config"), self.path(".ssh/config"))
        self.ok("setup", "ssh")
        self.assertTrue(os.path.islink(self.path(".ssh/config")))
        self.assertIn(b"puddle setup ssh", self.read("dotfiles/ssh_config"))
        self.ok("setup", "ssh", "--undo")
        self.assertEqual(self.read("dotfiles/ssh_config"), b"Host a\n")

    def test_an_environment_file_of_the_same_name_is_not_overwritten(self):
        self.write("config/" + ENV_FILE, b"SSH_AUTH_SOCK=/mine\n", 0o644)
        self.write(".ssh/config", b"Host a\n")
        p = self.run_puddle("setup", "ssh")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"puddle did not write it", p.stderr)
        self.assertIn(b"hint: rename it", p.stderr)
        self.assertEqual(self.read("config/" + ENV_FILE), b"SSH_AUTH_SOCK=/mine\n")
        self.assertEqual(self.read(".ssh/config"), b"Host a\n")

    # ---- git

    def test_setup_git_includes_puddles_config_last_and_undo_gives_the_file_back(self):
        self.assertEqual(self.git("config", "--global", "user.email", "me@example.org").returncode, 0)
        self.assertEqual(self.git("config", "--global", "user.signingkey", "ABCDEF0123").returncode, 0)
        before = self.read(".gitconfig")
        out = self.ok("setup", "git")
        self.assertIn("displaced: user.signingKey=ABCDEF0123", out)
        self.assertIn("sign with 'git commit -S'", out)
        # git itself now reads puddle's settings (the include wins over the earlier value).
        for key, want in (("gpg.format", "ssh"), ("user.signingkey", os.path.join(self.home, "git_signing_key.pub")),
                          ("gpg.ssh.allowedsignersfile", os.path.join(self.home, "git_allowed_signers")),
                          ("gpg.ssh.program", os.path.join(self.home, "git-ssh-keygen"))):
            self.assertEqual(self.git("config", "--get", key).stdout.strip(), want, key)
        self.assertEqual(self.git("config", "--get", "commit.gpgsign").stdout, "")
        pub = self.run_puddle("pubkey", "--ssh").stdout.decode().split()
        signers = self.read(os.path.join("state", "git_allowed_signers")).decode()
        self.assertEqual(signers, 'me@example.org namespaces="git" %s %s\n' % (pub[0], pub[1]))
        self.assertEqual(self.read(os.path.join("state", "git_signing_key.pub")).decode().split()[:2], pub[:2])
        self.assertEqual(os.stat(os.path.join(self.home, "git-ssh-keygen")).st_mode & 0o777, 0o700)
        after = self.read(".gitconfig")
        self.assertTrue(after.startswith(before))
        self.assertIn("nothing changed", self.ok("setup", "git"))
        self.assertEqual(self.read(".gitconfig"), after)
        self.ok("setup", "git", "--undo")
        self.assertEqual(self.read(".gitconfig"), before)
        for f in ("git.config", "git_allowed_signers", "git_signing_key.pub", "git-ssh-keygen", "setup-git.json"):
            self.assertFalse(os.path.exists(os.path.join(self.home, f)), f)

    def test_sign_all_and_a_file_without_a_final_line_break(self):
        self.write(".gitconfig", b"[user]\n\temail = me@example.org", 0o644)
        out = self.ok("setup", "git", "--sign-all", "--principal", "dev@puddle")
        self.assertIn("every commit and tag is signed", out)
        self.assertEqual(self.git("config", "--get", "commit.gpgsign").stdout.strip(), "true")
        self.assertEqual(self.git("config", "--get", "tag.gpgsign").stdout.strip(), "true")
        self.assertTrue(self.read(os.path.join("state", "git_allowed_signers")).startswith(b"dev@puddle "))
        self.ok("setup", "git", "--undo")
        self.assertEqual(self.read(".gitconfig"), b"[user]\n\temail = me@example.org")

    def test_the_xdg_git_config_is_used_when_it_is_the_only_one_and_a_created_file_goes_away(self):
        self.write("config/git/config", b"[user]\n\temail = x@example.org\n", 0o644)
        self.ok("setup", "git")
        self.assertFalse(os.path.exists(self.path(".gitconfig")))
        self.assertIn(b"puddle setup git", self.read("config/git/config"))
        self.ok("setup", "git", "--undo")
        self.assertEqual(self.read("config/git/config"), b"[user]\n\temail = x@example.org\n")
        os.unlink(self.path("config/git/config"))
        self.ok("setup", "git", "--principal", "me@example.org")
        self.assertTrue(os.path.exists(self.path(".gitconfig")))
        self.assertIn("removed ~/.gitconfig (puddle had created it)", self.ok("setup", "git", "--undo"))
        self.assertFalse(os.path.exists(self.path(".gitconfig")))

    def test_refusals_say_why_with_the_exit_codes_of_puddle_1(self):
        p = self.run_puddle("setup", "git")  # no user.email, no --principal
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"git has no user.email", p.stderr)
        self.assertIn(b"hint: git config --global user.email", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.home, "setup-git.json")))
        for args in (("setup",), ("setup", "gpg"), ("setup", "ssh", "--principal", "x"), ("setup", "git", "--undo", "--sign-all"),
                     ("setup", "git", "--principal", "a b"), ("setup", "git", "--principal", "*")):
            p = self.run_puddle(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr.startswith(b"puddle: "), p.stderr)
        bare = dict(PUDDLE_HOME=os.path.join(self.tmp, "nothing"))
        for what in ("ssh", "git"):
            p = self.run_puddle("setup", what, env_extra=bare)
            self.assertEqual(p.returncode, 4, p.stderr)


if __name__ == "__main__":
    main()

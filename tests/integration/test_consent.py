"""Consent (issue 18, part 2), in the booted container: the installed agent
under a real PAM login, polkit allowing, then the user's own answer through
an ssh-askpass program (SSH_ASKPASS_PROMPT=confirm, the question as its
argument, exit status = the answer) or a pinentry (Assuan CONFIRM).

- policy "always", the program answers no: refused, `puddle sign` exits 7,
  OpenSSH's ssh-keygen -Y sign fails, the record says refused (consent);
- answers yes: signed, and remembered for remember_seconds (one question for
  a burst);
- no answer within timeout_seconds: refused;
- the question names the requester, the purpose and the door;
- policy "forwarded": a plain ssh login is not asked about, a login made on
  the far side of `ssh -A` is;
- a pinentry answers when no askpass is configured.
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, b64, main  # noqa: E402
import test_record  # noqa: E402
from test_record import Sshd  # noqa: E402

ASKPASS = """#!/bin/sh
printf '%s|%s\\n---\\n' "$SSH_ASKPASS_PROMPT" "$1" >> "$HOME/asked.log"
case "$(cat "$HOME/answer")" in
  yes) exit 0 ;;
  hang) exec sleep 60 ;;
  *) exit 1 ;;
esac
"""

PINENTRY = """#!/bin/sh
echo 'OK Pleased to meet you'
while read -r cmd rest; do
  echo "$cmd $rest" >> "$HOME/pinentry.log"
  case $cmd in
    CONFIRM) echo OK ;;
    BYE) echo OK; exit 0 ;;
    *) echo OK ;;
  esac
done
"""


class Consent(test_record.RecordBase):
    def setUp(self):
        super().setUp()
        self.session.write_file("askpass.sh", ASKPASS, mode=0o755)
        self.session.write_file("pinentry.sh", PINENTRY, mode=0o755)
        self.session.write_file("asked.log", "")
        self.answer("no")

    def tearDown(self):
        self.configure(None)

    def journal_tail(self):
        import subprocess
        return subprocess.run(["journalctl", "--no-pager", "-n", "40", "_SYSTEMD_USER_UNIT=puddle-agent.service"],
                              capture_output=True, text=True).stdout

    def answer(self, what):
        self.session.write_file("answer", what)

    def asked(self):
        with open(os.path.join(self.session.home, "asked.log")) as f:
            return [q for q in f.read().split("\n---\n") if q.strip()]

    def configure(self, policy, askpass=True, extra=""):
        body = ""
        if policy:
            body = '[consent]\npolicy = "%s"\ntimeout_seconds = 3\n' % policy
            if askpass:
                body += 'askpass = "%s"\n' % os.path.join(self.session.home, "askpass.sh")
            else:
                body += 'pinentry = "%s"\n' % os.path.join(self.session.home, "pinentry.sh")
            body += extra
        self.session.write_file(".config/puddle/puddle.toml", CONFIG + body)
        t = time.monotonic()
        self.a.s.systemctl("stop", "puddle-agent.service")
        # These tests start the agent more often than systemd's default start
        # limit (5 in 10 s) lets a unit start: forget the earlier starts.
        self.a.s.systemctl("reset-failed", "puddle-agent.service", "puddle-agent.socket", "puddle-agent-ssh.socket",
                           check=False)
        self.a.s.systemctl("start", "puddle-agent.socket", "puddle-agent-ssh.socket")
        if time.monotonic() - t > 5:
            print("stop took %.1f s:\n%s" % (time.monotonic() - t, self.journal_tail()), file=sys.stderr)
        if policy:
            self.unlock()

    def sign_file(self, text):
        path = self.session.write_file("data.txt", text)
        return self.a.puddle("sign", path)

    def test_a_no_refuses_on_every_door_and_is_recorded(self):
        self.configure("always")
        p = self.sign_file("consent no " + os.urandom(4).hex())
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn("declined", p.stderr)
        (q,) = self.asked()
        self.assertTrue(q.startswith("confirm|Allow /usr/bin/puddle (session-"), q)
        self.assertIn("to sign with your puddle key?\nraw Sign, through dbus.", q)
        # OpenSSH's signer is a program of its own: asked again, refused again.
        pubfile = self.session.write_file("k.pub", self.a.puddle("pubkey", "--ssh").stdout)
        msg = self.session.write_file("m.txt", "x")
        p = self.session.run(["ssh-keygen", "-Y", "sign", "-f", pubfile, "-n", "git", msg],
                             env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("sshsig namespace=git, through ssh-agent.sock.", self.asked()[-1])
        refused = [u for u in self.log_json() if u["outcome"] == "refused"][-2:]
        self.assertTrue(all("consent" in u["reason"] for u in refused), refused)
        self.assertEqual({u["door"] for u in refused}, {"dbus", "ssh-agent.sock"})

    def test_a_yes_signs_and_is_remembered(self):
        self.configure("always")
        self.answer("yes")
        for i in range(5):
            p = self.sign_file("consent yes %d" % i)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.asked()), 1, self.asked())
        # Through the socket door the requester is python, another program: asked once more.
        self.assertTrue(self.a.sock("SIGN " + b64(b"via socket"))[0].startswith("OK "))
        self.assertEqual(len(self.asked()), 2)
        # A lock forgets the answers.
        self.a.puddle("lock")
        self.unlock()
        self.assertEqual(self.sign_file("after lock").returncode, 0)
        self.assertEqual(len(self.asked()), 3)

    def test_no_answer_in_time_is_a_refusal(self):
        self.configure("always")
        self.answer("hang")
        t = time.monotonic()
        p = self.sign_file("consent hang")
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn("no answer within 3 s", p.stderr)
        self.assertLess(time.monotonic() - t, 30)

    def test_the_forwarded_policy_asks_only_for_forwarded_requests(self):
        if not os.path.exists("/usr/sbin/sshd"):
            self.skipTest("SKIP: no sshd in this container (openssh-server)")
        import subprocess
        subprocess.run(["usermod", "-p", "*", self.session.user], check=True)
        sshd = Sshd(port=2223)
        try:
            self.session.write_file(".ssh/authorized_keys", self.a.puddle("pubkey", "--ssh").stdout)
            self.configure("forwarded")
            self.answer("yes")
            ssh = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                   "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", "2223", self.session.user + "@127.0.0.1"]
            env = {"SSH_AUTH_SOCK": self.a.ssh_sock_path}
            p = self.session.run(ssh + ["true"], env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(self.asked(), [])
            p = self.session.run(ssh[:1] + ["-A"] + ssh[1:] + [" ".join(ssh + ["true"])], env=env)
            self.assertEqual(p.returncode, 0, p.stderr + sshd.text()[-2000:])
            (q,) = self.asked()
            self.assertIn("(forwarded), through ssh-agent.sock.", q)
            self.assertIn("ssh login as %s to %s" % (self.session.user, sshd.fingerprint), q)
            # And a no there refuses the forwarded login.
            self.answer("no")
            self.a.puddle("lock")
            self.unlock()
            p = self.session.run(ssh[:1] + ["-A"] + ssh[1:] + [" ".join(ssh + ["true"])], env=env)
            self.assertNotEqual(p.returncode, 0)
        finally:
            sshd.close()

    def test_a_pinentry_is_asked_when_there_is_no_askpass(self):
        self.configure("always", askpass=False)
        p = self.sign_file("consent pinentry")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.session.home, "pinentry.log")) as f:
            log = f.read()
        self.assertIn("SETDESC Allow /usr/bin/puddle", log)
        self.assertIn("CONFIRM", log)


if __name__ == "__main__":
    main()

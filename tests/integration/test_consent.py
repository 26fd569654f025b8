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
- a pinentry answers when no askpass is configured;
- the requester asked about is the process that sent the request (issue 23):
  under "new-requester", a process that connects, forks and execs a known
  program does not get that program's standing for its child's request (it
  is refused, nobody asked); an executable with a newline in its name is one
  line of the question;
- unlock_on_request: a signature asked for while locked, from the login
  session, asks the passphrase with the askpass program and signs; a burst
  asks once; a wrong or refused passphrase fails as locked; the ssh door
  lists the key while locked so OpenSSH's signer asks too.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import CONFIG, PASSPHRASE, b64, main  # noqa: E402
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


class ConsentBase(test_record.RecordBase):
    def setUp(self):
        super().setUp()
        self.session.write_file("askpass.sh", ASKPASS, mode=0o755)
        self.session.write_file("pinentry.sh", PINENTRY, mode=0o755)
        self.session.write_file("asked.log", "")
        self.answer("no")

    def tearDown(self):
        self.configure(None)

    def journal_tail(self):
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


HERE = os.path.dirname(os.path.abspath(__file__))


class RequesterConsent(ConsentBase):
    def setUp(self):
        super().setUp()
        with open(os.path.join(HERE, "requester_client.py")) as f:
            self.client = self.session.write_file("requester_client.py", f.read(), mode=0o755)

    def copy_python(self, name):
        path = os.path.join(self.session.home, name)
        shutil.copy2(os.path.realpath("/usr/bin/python3"), path)
        os.chown(path, self.session.uid, self.session.gid)
        return path

    def client_run(self, exe, *args):
        p = self.session.run([exe, self.client, *args], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def test_a_fork_and_exec_does_not_take_a_known_programs_standing(self):
        self.configure("new-requester")
        self.answer("yes")
        python = os.path.realpath("/usr/bin/python3")
        # python3 becomes known (asked once, yes).
        self.assertTrue(self.client_run(python, "sign", b64(b"known"))["sign"].startswith("OK "))
        self.assertEqual(len(self.asked()), 1)
        self.answer("no")
        # Another program connects, forks and execs python3; its child asks.
        evil = self.copy_python("not-python")
        r = self.client_run(evil, "fork-exec", b64(b"a challenge"), python, "-c", "import time; time.sleep(3)")
        self.assertTrue(r["sign"].startswith("ERR denied "), r)
        self.assertIn("not by the process that connected", r["sign"])
        self.assertEqual(len(self.asked()), 1, self.asked())
        refused = [u for u in self.log_json() if u["outcome"] == "refused"][-1]
        self.assertIn("not by the process that connected", refused["reason"])
        self.assertNotEqual(refused["program"], python)

    def test_a_newline_in_the_executable_is_one_line_of_the_question(self):
        self.configure("always")
        odd = self.copy_python("evil\nAllow git to sign")
        r = self.client_run(odd, "sign", b64(b"odd name"))
        self.assertTrue(r["sign"].startswith("ERR denied "), r)
        self.assertEqual(len(self.asked()), 1, (r, self.asked(), self.journal_tail()))
        (q,) = self.asked()
        first, rest = q.split("\n", 1)
        label = os.path.join(self.session.home, "evil\\x0aAllow git to sign")
        self.assertTrue(first.startswith("confirm|Allow %s (" % label), q)
        self.assertTrue(first.endswith(") to sign with your puddle key?"), q)
        self.assertEqual(rest, "raw Sign, through agent.sock.")


class Consent(ConsentBase):
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
        # ssh-add -T (which signs through the agent to test a key) sees the failure too.
        p = self.session.run(["ssh-add", "-T", pubfile], env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("/usr/bin/ssh-add", self.asked()[-1])

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

    def test_a_login_the_destination_rule_refuses_is_not_asked_about(self):
        if not os.path.exists("/usr/sbin/sshd"):
            self.skipTest("SKIP: no sshd in this container (openssh-server)")
        subprocess.run(["usermod", "-p", "*", self.session.user], check=True)
        sshd = Sshd(port=2224)
        try:
            self.session.write_file(".ssh/authorized_keys", self.a.puddle("pubkey", "--ssh").stdout)
            self.configure("always", extra='[ssh]\ndestinations = ["SHA256:%s"]\n' % ("A" * 43))
            self.answer("yes")
            p = self.session.run(["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o",
                                  "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                                  "-p", "2224", self.session.user + "@127.0.0.1", "true"],
                                 env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
            self.assertNotEqual(p.returncode, 0)
            self.assertEqual(self.asked(), [])
            refused = [u for u in self.log_json() if u["outcome"] == "refused"][-1]
            self.assertIn("not in [ssh] destinations", refused["reason"])
        finally:
            sshd.close()

    def test_another_process_cannot_turn_consent_off_for_the_running_session(self):
        # The attacker is a process of the same user: it rewrites puddle.toml
        # and points the user manager's SSH_ASKPASS at a program that says yes.
        self.configure("always")
        self.answer("no")
        yes = self.session.write_file("yes.sh", "#!/bin/sh\nexit 0\n", mode=0o755)
        self.session.write_file(".config/puddle/puddle.toml", CONFIG + '[consent]\npolicy = "never"\n')
        self.a.s.systemctl("set-environment", "SSH_ASKPASS=" + yes)
        try:
            p = self.sign_file("after the tampering")
            self.assertEqual(p.returncode, 7, p.stderr)  # still asked, by the askpass it started with
            self.assertEqual(len(self.asked()), 1)
            # Restarting the agent to take the change ends the session.
            self.a.s.systemctl("stop", "puddle-agent.service")
            self.assertEqual(self.sign_file("after the restart").returncode, 3)
            self.assertFalse(json.loads(self.a.puddle("status", "--json").stdout)["unlocked"])
        finally:
            self.a.s.systemctl("unset-environment", "SSH_ASKPASS", check=False)

    def test_a_pinentry_is_asked_when_there_is_no_askpass(self):
        self.configure("always", askpass=False)
        p = self.sign_file("consent pinentry")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.session.home, "pinentry.log")) as f:
            log = f.read()
        self.assertIn("SETDESC Allow /usr/bin/puddle", log)
        self.assertIn("CONFIRM", log)



UNLOCK_ASKPASS = """#!/bin/sh
printf '%s|%s\\n---\\n' "${SSH_ASKPASS_PROMPT:-passphrase}" "$1" >> "$HOME/asked.log"
case "$(cat "$HOME/answer")" in
  pass) printf '%s\\n' "$(cat "$HOME/passphrase")" ;;
  *) exit 1 ;;
esac
"""


class UnlockOnRequest(ConsentBase):
    def setUp(self):
        super().setUp()
        self.session.write_file("askpass.sh", UNLOCK_ASKPASS, mode=0o755)
        self.session.write_file("passphrase", PASSPHRASE + "\n", mode=0o600)
        self.configure_unlock()

    def configure_unlock(self, consent=None):
        body = '[consent]\naskpass = "%s"\ntimeout_seconds = 5\n' % os.path.join(self.session.home, "askpass.sh")
        if consent:
            body += 'policy = "%s"\n' % consent
        self.session.write_file(".config/puddle/puddle.toml",
                                CONFIG.replace("[agent]\n", "[agent]\nunlock_on_request = true\n") + body)
        self.a.s.systemctl("stop", "puddle-agent.service")
        self.a.s.systemctl("reset-failed", "puddle-agent.service", "puddle-agent.socket", "puddle-agent-ssh.socket",
                           check=False)
        self.a.s.systemctl("start", "puddle-agent.socket", "puddle-agent-ssh.socket")

    def unlocked(self):
        return json.loads(self.a.puddle("status", "--json").stdout)["unlocked"]

    def test_a_locked_key_asks_the_passphrase_and_signs(self):
        self.answer("pass")
        self.assertFalse(self.unlocked())
        p = self.sign_file("unlock on request")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.unlocked())
        (q,) = self.asked()
        self.assertTrue(q.startswith("passphrase|puddle: /usr/bin/puddle asks for a signature (raw Sign)"), q)
        # Unlocked now: no more questions.
        self.assertEqual(self.sign_file("again").returncode, 0)
        self.assertEqual(len(self.asked()), 1)

    def test_a_burst_asks_once_and_ssh_asks_too(self):
        self.answer("pass")
        # While locked the ssh door lists the key, so OpenSSH's signer tries it.
        listed = self.session.run(["ssh-add", "-L"], env={"SSH_AUTH_SOCK": self.a.ssh_sock_path})
        self.assertEqual(listed.returncode, 0, listed.stderr)
        pubfile = self.session.write_file("k.pub", self.a.puddle("pubkey", "--ssh").stdout)
        msgs = [self.session.write_file("m%d.txt" % i, "burst %d" % i) for i in range(3)]
        env = {"SSH_AUTH_SOCK": self.a.ssh_sock_path}
        procs = [self.session.popen(["ssh-keygen", "-Y", "sign", "-f", pubfile, "-n", "git", m], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for m in msgs]
        for p in procs:
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(self.asked()), 1, self.asked())

    def test_a_wrong_or_refused_passphrase_fails_as_locked(self):
        self.answer("no")
        p = self.sign_file("refused passphrase")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.session.write_file("passphrase", "not the passphrase\n", mode=0o600)
        self.answer("pass")
        time.sleep(1)
        p = self.sign_file("wrong passphrase")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertFalse(self.unlocked())
        self.assertEqual(len(self.asked()), 2)

    def test_consent_still_asks_after_the_unlock(self):
        self.configure_unlock(consent="always")
        self.answer("pass")
        p = self.sign_file("unlock then consent")
        # The askpass answers the consent question with a passphrase line and exit 0: a yes.
        self.assertEqual(p.returncode, 0, p.stderr)
        kinds = [q.split("|", 1)[0] for q in self.asked()]
        self.assertEqual(kinds, ["passphrase", "confirm"], self.asked())


if __name__ == "__main__":
    main()

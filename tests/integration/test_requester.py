"""Who asked, and what for (issue 23, items 3 and 4), against the installed
agent under a real systemd --user manager (lone) or a booted systemd:

- the requester is the process that sent the request, described when the
  connection is accepted: a process that connects, forks a child that keeps
  the socket and execs another program is not that program — the child's
  request is refused; a process that execs another program after it
  connected is refused too;
- an executable's path with a newline in it is shown and recorded as one
  line, the newline quoted;
- every door reads what it signs the same way: an ssh login request (SSH
  userauth data) is refused on agent.sock and on D-Bus with a reason that
  says so, an SSHSIG is named with its namespace on every door;
- OpenSSH's clients, which send no credentials of their own, keep working on
  the ssh door (the kernel attaches them): test_ssh.py.
"""
import json
import os
import shutil
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import PY, AgentTestCase, b64, main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def sshstr(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def userauth_request(user="git", hostbound=False):
    """The data ssh signs for a public key login (RFC 4252 §7)."""
    key = sshstr("ssh-ed25519") + sshstr(b"\x11" * 32)
    data = sshstr(b"\x22" * 32) + bytes([50]) + sshstr(user) + sshstr("ssh-connection")
    data += sshstr("publickey-hostbound-v00@openssh.com" if hostbound else "publickey")
    data += b"\x01" + sshstr("ssh-ed25519") + sshstr(key)
    if hostbound:
        data += sshstr(sshstr("ssh-ed25519") + sshstr(b"\x33" * 32))
    return data


def sshsig_blob(namespace="git"):
    """The data ssh-keygen -Y sign signs (PROTOCOL.sshsig)."""
    return b"SSHSIG" + sshstr(namespace) + sshstr("") + sshstr("sha512") + sshstr(b"\x44" * 64)


class Requester(AgentTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls._session
        cls.client = s.write_file("requester_client.py", open(os.path.join(HERE, "requester_client.py")).read(),
                                  mode=0o755)

    def client_run(self, *args, exe=PY):
        p = self._session.run([exe, self.client, *args], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def copy_python(self, name):
        """A copy of the interpreter the user can run, at ~/NAME."""
        path = os.path.join(self._session.home, name)
        shutil.copy2(os.path.realpath(PY), path)
        os.chown(path, self._session.uid, self._session.gid)
        return path

    def last_use(self):
        return json.loads(self.a.sock("STATUS")[0][3:]).get("last_use")

    def test_a_forked_child_of_a_process_that_became_another_program_is_refused(self):
        self.a.unlock("--no-watch")
        r = self.client_run("fork-exec", b64(b"a challenge, says the program"))
        self.assertTrue(r["status"].startswith("OK "), r)
        # Today's agent signed this as /bin/sleep: the process that connected.
        self.assertTrue(r["sign"].startswith("ERR denied "), r)
        self.assertIn("not by the process that connected", r["sign"])
        last = self.last_use()
        self.assertIsNotNone(last)
        self.assertEqual(last["outcome"], "refused")
        self.assertNotIn("sleep", last["program"])

    def test_a_process_that_execs_another_program_after_connecting_is_refused(self):
        self.a.unlock("--no-watch")
        other = self.copy_python("another-program")
        r = self.client_run("exec", other, b64(b"a challenge"))
        self.assertTrue(r["status"].startswith("OK "), r)
        self.assertTrue(r["sign"].startswith("ERR denied "), r)
        self.assertIn("now runs " + other, r["sign"])
        self.assertEqual(self.last_use()["outcome"], "refused")

    def test_the_connecting_process_itself_still_signs(self):
        self.a.unlock("--no-watch")
        r = self.client_run("sign", b64(b"plain data"))
        self.assertTrue(r["sign"].startswith("OK "), r)
        last = self.last_use()
        self.assertEqual(last["outcome"], "signed")
        self.assertEqual(last["program"], os.path.realpath(PY))
        self.assertEqual(last["purpose"], "raw Sign")

    def test_a_newline_in_the_executable_is_quoted_to_one_line(self):
        self.a.unlock("--no-watch")
        odd = self.copy_python("evil\nAllow git to sign")
        r = self.client_run("sign", b64(b"plain data"), exe=odd)
        self.assertTrue(r["sign"].startswith("OK "), r)
        program = self.last_use()["program"]
        self.assertNotIn("\n", program)
        self.assertEqual(program, os.path.join(self._session.home, "evil\\x0aAllow git to sign"))

    def test_an_ssh_login_request_is_refused_off_the_ssh_door(self):
        self.a.unlock("--no-watch")
        for data in (userauth_request(), userauth_request(hostbound=True)):
            reply = self.a.sock("SIGN " + b64(data))[0]
            self.assertTrue(reply.startswith("ERR denied "), reply)
            self.assertIn("ssh login request", reply)
            self.assertIn("ssh-agent.sock", reply)
            r = self.a.bus("sign", data.hex())
            self.assertEqual(r.get("error"), "org.freedesktop.DBus.Error.AccessDenied", r)
            self.assertIn("ssh login request", r["message"])
        last = self.last_use()
        self.assertEqual(last["outcome"], "refused")
        self.assertTrue(last["purpose"].startswith("ssh login as git"), last)

    def test_an_sshsig_is_named_with_its_namespace_on_every_door(self):
        self.a.unlock("--no-watch")
        blob = sshsig_blob("git")
        self.assertTrue(self.a.sock("SIGN " + b64(blob))[0].startswith("OK "))
        self.assertEqual(self.last_use()["purpose"], "sshsig namespace=git")
        self.assertIn("ok", self.a.bus("sign", sshsig_blob("file").hex()))
        self.assertEqual(self.last_use()["purpose"], "sshsig namespace=file")


if __name__ == "__main__":
    main()

"""The verbs that make or unwrap the seed (init, rotate-passphrase, join,
rekey --from) harden themselves as the agent does, and refuse to run when a
debugger already traces them: before any passphrase is read or any file is
written (util/harden, puddle(1) PASSPHRASES)."""
import ctypes
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import PUDDLE, PuddleCase  # noqa: E402

PTRACE_TRACEME, PTRACE_CONT = 0, 7
NO_PTRACE = 99  # the child's exit status when it could not ask to be traced


def run_traced(argv, env, pass_fds=()):
    """Runs argv as a child that this process traces from its first
    instruction; returns (exit status, stderr)."""
    libc = ctypes.CDLL(None, use_errno=True)
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(err_w, 2)
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            if libc.ptrace(PTRACE_TRACEME, 0, None, None) != 0:
                os._exit(NO_PTRACE)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(98)
    os.close(err_w)
    while True:
        _, status = os.waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            break
        # The stop at exec is ours; any other signal goes on to the child.
        sig = os.WSTOPSIG(status)
        libc.ptrace(PTRACE_CONT, pid, None, ctypes.c_void_p(0 if sig == signal.SIGTRAP else sig))
    with os.fdopen(err_r, "rb") as f:
        err = f.read()
    return os.waitstatus_to_exitcode(status), err


class RefusedWhenTraced(PuddleCase):
    def traced(self, *args):
        r, w = os.pipe()
        os.write(w, b"a passphrase\na passphrase\n")
        os.close(w)
        try:
            argv = [PUDDLE] + [str(r) if a == "FD" else a for a in args]
            code, err = run_traced(argv, self.env, pass_fds=(r,))
        finally:
            os.close(r)
        if code == NO_PTRACE:
            self.skipTest("ptrace is not allowed here")
        return code, err

    def test_init_refuses_before_it_writes_anything(self):
        code, err = self.traced("init", "--passphrase-fd", "FD")
        self.assertEqual(code, 1, err)
        self.assertIn(b"traces puddle init (ptrace)", err)
        self.assertFalse(os.path.exists(self.home), os.listdir(self.tmp))

    def test_rotate_passphrase_refuses_and_changes_nothing(self):
        self.init("old pass")
        before = self.snapshot()
        code, err = self.traced("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD")
        self.assertEqual(code, 1, err)
        self.assertIn(b"traces puddle rotate-passphrase (ptrace)", err)
        self.assertEqual(self.snapshot(), before)

    def test_join_and_rekey_from_refuse_before_connecting(self):
        # Port 1 on loopback: were the verb to go on, it would fail to connect
        # (exit 6), not refuse (exit 1).
        code, err = self.traced("join", "--from", "127.0.0.1:1", "--code-fd", "FD", "--passphrase-fd", "FD")
        self.assertEqual(code, 1, err)
        self.assertIn(b"traces puddle join (ptrace)", err)
        self.init()
        code, err = self.traced("rekey", "--from", "127.0.0.1:1", "--code-fd", "FD", "--passphrase-fd", "FD")
        self.assertEqual(code, 1, err)
        self.assertIn(b"traces puddle rekey (ptrace)", err)

    def test_untraced_verbs_are_not_refused(self):
        p = self.init()
        self.assertNotIn(b"ptrace", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""The passphrase prompt on a real terminal (a pseudo-terminal this test
holds both ends of, the program's controlling terminal): echo is off before
the prompt shows, and whatever ends or stops the program at the prompt
leaves the terminal as it was (Ctrl-C), or gives it back while stopped and
takes it again on resumption (Ctrl-Z, then SIGCONT), as readpassphrase(3)
does. The passphrase typed after a stop is the one init keeps."""
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import PUDDLE, PuddleCase, main  # noqa: E402
import nacl_unwrap  # noqa: E402


JOB_SHELL = r"""
import os, signal, sys
out = os.fdopen(int(sys.argv[1]), "w", buffering=1)
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.tcsetpgrp(0, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    os.execv(sys.argv[2], sys.argv[2:])
os.setpgid(pid, pid)
out.write("pid %d\n" % pid)
while True:
    _, st = os.waitpid(pid, os.WUNTRACED | os.WCONTINUED)
    if os.WIFSTOPPED(st):
        out.write("stopped\n")
    elif os.WIFCONTINUED(st):
        os.tcsetpgrp(0, pid)
        out.write("continued\n")
    else:
        out.write("exit %d\n" % os.WEXITSTATUS(st) if os.WIFEXITED(st) else "signal %d\n" % os.WTERMSIG(st))
        break
"""


class Prompt(PuddleCase):
    def setUp(self):
        super().setUp()
        self.master, self.slave = os.openpty()
        self.addCleanup(os.close, self.master)
        self.addCleanup(os.close, self.slave)

    def spawn(self, *args):
        """puddle in the foreground of the terminal, under a minimal job-control shell (a session leader
        in the same session, so a stop is not discarded as in an orphaned process group); the shell
        writes "pid N", then "stopped", "continued" or "exit N" / "signal N" on `self.events`."""
        r, w = os.pipe()
        self.events = os.fdopen(r, "r")
        self.addCleanup(self.events.close)
        slave = self.slave

        def take_terminal():
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        p = subprocess.Popen([sys.executable, "-c", JOB_SHELL, str(w), PUDDLE, *args], env=self.env, stdin=slave,
                             stdout=slave, stderr=slave, preexec_fn=take_terminal, pass_fds=(w,))
        os.close(w)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        self.pid = int(self.event().split()[1])
        self.addCleanup(lambda: p.poll() is None and os.kill(self.pid, signal.SIGKILL))
        return p

    def event(self):
        line = self.events.readline()
        self.assertTrue(line, "the job shell ended without a word")
        return line.strip()

    def read_until(self, text, timeout=10):
        seen = b""
        deadline = time.monotonic() + timeout
        while text not in seen:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no %r on the terminal; it shows %r" % (text, seen))
            if select.select([self.master], [], [], left)[0]:
                seen += os.read(self.master, 4096)
        return seen

    def echo(self):
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def test_ctrl_c_at_the_prompt_gives_the_terminal_back(self):
        self.assertTrue(self.echo())
        p = self.spawn("init")
        self.read_until(b"passphrase: ")
        self.assertFalse(self.echo(), "the prompt showed with echo on")
        os.write(self.master, b"half a pass\x03")  # Ctrl-C: SIGINT from the terminal
        self.assertEqual(self.event(), "signal %d" % signal.SIGINT)
        p.wait(timeout=10)
        self.assertTrue(self.echo(), "Ctrl-C at the prompt left the terminal without echo")
        self.assertFalse(os.path.exists(self.file("identity.wrapped")))

    def test_ctrl_z_gives_the_terminal_back_and_resuming_takes_it_again(self):
        p = self.spawn("init")
        self.read_until(b"passphrase: ")
        self.assertFalse(self.echo(), "the prompt showed with echo on")
        os.write(self.master, b"\x1a")  # Ctrl-Z: SIGTSTP from the terminal
        self.assertEqual(self.event(), "stopped")
        self.assertTrue(self.echo(), "stopped at the prompt with echo off")
        os.kill(self.pid, signal.SIGCONT)  # what 'fg' sends
        self.assertEqual(self.event(), "continued")
        deadline = time.monotonic() + 10
        while self.echo() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertFalse(self.echo(), "resumed at the prompt with echo on")
        os.write(self.master, b"correct horse\n")
        self.read_until(b"Repeat")
        os.write(self.master, b"correct horse\n")
        self.assertEqual(self.event(), "exit 0")
        p.wait(timeout=10)
        self.assertTrue(self.echo())
        # What was typed after the stop is the passphrase (python3-nacl unwraps it).
        pub = self.read("identity.pub").decode()
        nacl_unwrap.unwrap(self.read("identity.wrapped"), self.read("identity.salt"), pub, b"correct horse",
                           home=self.tmp)

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The README's "Quick start on your laptop", word for word, as a new user
walks it on a clean Debian 12 or 13 (issue 24, item 8):

    walk.py debian12|debian13

1. The .deb: scripts/build-deb.sh --nocheck --reuse, on the host for Debian 12
   (the build tests/packaging/test_deb.sh shares), inside the trixie root of
   tests/boot/make-root.sh for Debian 13, into <build root>/deb/<distro>
   (PUDDLE_WALK_DEB_DEBIAN12=FILE or _DEBIAN13: walk that package instead).
2. A user's system with nothing of the project (make-root.sh --user: systemd,
   logind, polkit, sudo, ssh, git), cached under /var/tmp/puddle-test and
   booted under a throwaway overlay by tests/boot/container.sh.
3. In a PAM login session on a terminal, every command of the README's quick
   start, read from README.md, in order, typed as written; the walk answers
   only what a person answers: the passphrase, the sudo and the server
   password, "yes" to a new host key, "Y" to apt. What it adds is stated:
   apt's package lists are brought up to date (as apt-daily does, through a
   forwarder to the configured Debian mirror, the container having no network
   of its own); `you@server` is a user `you` on an sshd on loopback (`server`
   in /etc/hosts); the user has a git identity and a repository with a change
   staged; a second machine's steps are skipped with the reason.
4. Checks between the steps: the sockets listen at a new login with no step
   of the walk's, ssh logs in with the key alone, the signed commit verifies
   in a new login shell, and after `puddle rekey` both the old commit and a
   new one signed with the new key verify.

Exit 77 (SKIP) only when the container or the mirror cannot be used at all.
"""
import fcntl
import os
import pty
import re
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "boot"))
import booted  # noqa: E402

SOURCE = booted.SOURCE
README = os.path.join(SOURCE, "README.md")
SECTION = "Quick start on your laptop"
MAKE_ROOT = os.path.join(SOURCE, "tests", "boot", "make-root.sh")
BUILD_DEB = os.path.join(SOURCE, "scripts", "build-deb.sh")
SUITES = {"debian12": "bookworm", "debian13": "trixie"}
# Regular uids no other test uses (keyrings are per uid across the kernel;
# journald keeps uids of systemd's dynamic range out of the user's journal).
UIDS = {"debian12": 45500, "debian13": 45600}
PASSPHRASE = "walk the puddle quick start"
PASSWORD = "walker's own password"
SERVER_USER, SERVER_PASSWORD = "you", "the server's password"
SECOND_MACHINE = re.compile(r"\bpuddle (pair|join)\b")


def log(msg):
    print(msg, flush=True)


class WalkFailed(Exception):
    pass


# -- the README ----------------------------------------------------------

def quick_start(text):
    """[(number, title, [command lines])] of the README's quick start: its
    numbered items and the lines of their indented code blocks (seven
    columns: three of the item, four of the block)."""
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(SECTION), text, re.S | re.M)
    if not m:
        raise WalkFailed("README.md has no section '## %s'" % SECTION)
    steps = []
    for line in m.group(1).splitlines():
        item = re.match(r"^(\d+)\. (.*)", line)
        if item:
            steps.append((int(item.group(1)), item.group(2).strip(), []))
        elif steps and line.startswith(" " * 7) and line.strip():
            steps[-1][2].append(line[7:])
    if not steps or not any(cmds for _, _, cmds in steps):
        raise WalkFailed("README.md's quick start has no numbered steps with commands")
    return steps


# -- the package -----------------------------------------------------------

def build_deb(distro, trixie_root):
    """The .deb of this tree for DISTRO, built once and reused while the tree
    is unchanged. Returns its path."""
    given = os.environ.get("PUDDLE_WALK_DEB_" + distro.upper())
    if given:
        log("package: %s (PUDDLE_WALK_DEB_%s)" % (given, distro.upper()))
        return os.path.abspath(given)
    out = os.path.join(os.environ.get("PUDDLE_BUILD_ROOT") or os.path.join(SOURCE, "build-test"), "deb", distro)
    os.makedirs(out, exist_ok=True)
    argv = [BUILD_DEB, "--nocheck", "--reuse", "--outdir", out]
    t0 = time.monotonic()
    if distro == "debian13" and not os.path.exists(os.path.join(trixie_root, "usr/bin/dpkg-buildpackage")):
        raise booted.Skip("the trixie root %s has no dpkg-buildpackage (tests/boot/make-root.sh makes it)"
                          % trixie_root)
    if distro == "debian12":
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=2400)
    else:
        env = dict(os.environ, PUDDLE_NSPAWN_ARGS="--bind-ro=%s --bind=%s" % (SOURCE, out))
        r = subprocess.run([booted.CONTAINER, "debbuild-%d" % os.getpid(), "run", trixie_root] + argv, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=2400)
    if r.returncode != 0:
        raise WalkFailed("scripts/build-deb.sh for %s failed:\n%s" % (distro, r.stdout[-4000:]))
    debs = [f for f in os.listdir(out) if re.match(r"puddle_.*\.deb$", f)]
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    m = re.search(r"(puddle_[^/ ]+\.deb)", last)
    if not m or m.group(1) not in debs:
        raise WalkFailed("build-deb.sh named no package in %s:\n%s" % (out, r.stdout[-2000:]))
    log("package: %s (%s, %.0f s)" % (m.group(1), "reused" if "--reuse" in last else "built",
                                      time.monotonic() - t0))
    return os.path.join(out, m.group(1))


def make_user_root(distro):
    root = os.path.join(os.path.dirname(booted.TRIXIE_ROOT), "user-" + SUITES[distro])
    t0 = time.monotonic()
    r = subprocess.run([MAKE_ROOT, "--user", SUITES[distro], root], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=1800)
    if r.returncode != 0 or not os.path.exists(os.path.join(root, "usr/lib/systemd/systemd")):
        raise booted.Skip("no %s root for a user's system (make-root.sh --user):\n%s" % (SUITES[distro],
                                                                                       r.stdout[-2000:]))
    log("%s (%.0f s)" % (r.stdout.strip().splitlines()[-1], time.monotonic() - t0))
    return root


# -- the mirror, for a container without a network ---------------------------

def mirror_of(root):
    """(host, port) of the Debian mirror the root's apt sources name."""
    for path in ("etc/apt/sources.list", "etc/apt/sources.list.d/debian.sources"):
        try:
            with open(os.path.join(root, path)) as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"(https?)://[^\s]+", text)
        if m:
            u = urllib.parse.urlsplit(m.group(0))
            return u.hostname, u.port or (443 if u.scheme == "https" else 80)
    raise booted.Skip("the root names no http(s) Debian mirror in its apt sources")


class MirrorForwarder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A Unix socket, bound into the container, whose connections go on to the
    mirror over TCP (inside, systemd-socket-proxyd listens on the mirror's
    port on loopback and the mirror's name is 127.0.0.1 in /etc/hosts)."""
    daemon_threads = True

    def __init__(self, path, mirror):
        self.mirror = mirror
        super().__init__(path, MirrorForwarder.Pipe)

    class Pipe(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                up = socket.create_connection(self.server.mirror, timeout=30)
            except OSError:
                return
            with up:
                ends = {self.request: up, up: self.request}
                while True:
                    ready = select.select(list(ends), [], [], 120)[0]
                    if not ready:
                        return
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        ends[s].sendall(data)


# -- a terminal in a login session -------------------------------------------

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\r")
PROMPT = re.compile(rb"\[walk rc=(\d+)\]\$ $")


class Terminal:
    """An interactive login shell (bash -l) in a new PAM login session on
    seat0 with a terminal of its own (systemd-run --pty, as machinectl shell
    does), forwarded to a pseudo-terminal here; the walk types lines into it
    and answers the questions a person answers."""

    def __init__(self, machine, user, answers):
        self.answers = answers  # [(compiled regex at the end of the output, reply, wait for echo off)]
        self.master, slave = pty.openpty()
        # Wide enough that readline never scrolls a typed line sideways.
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 500, 0, 0))
        argv = machine._nsenter() + [
            "systemd-run", "--pty", "--quiet", "-p", "PAMName=login", "-p", "User=" + user,
            "-p", "WorkingDirectory=~",
            "-p", "Environment=XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user TERM=dumb",
            "bash", "-l"]
        self.p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.user = user
        # Type only once the shell prompts: what is typed before the session's
        # terminal is set up is flushed with it.
        deadline, seen = time.monotonic() + 60, b""
        while True:
            chunk = self._read(min(deadline, time.monotonic() + (0.5 if seen else 60)))
            if chunk is None and seen:
                break
            if not chunk:
                raise WalkFailed("the login shell of %s did not start; it showed:\n%s" % (user, self._text(seen)))
            seen += chunk
        # A prompt the walk recognizes, with the exit status of the last line.
        self.run("PS1='[walk rc=$?]\\$ '", check=True, timeout=60, what="the shell to start")

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.master], [], [], left)[0]:
            return None
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""


    def run(self, line, check=False, timeout=600, what=None):
        """Types LINE; answers questions; returns (exit status, output)."""
        os.write(self.master, line.encode() + b"\n")
        seen, answered_to = b"", 0
        deadline = time.monotonic() + timeout
        while True:
            chunk = self._read(deadline)
            if chunk is None:
                raise WalkFailed("%r: no prompt after %d s; the terminal shows:\n%s"
                                 % (line, timeout, self._text(seen)[-3000:]))
            if not chunk:
                raise WalkFailed("%r: the terminal closed; it showed:\n%s" % (line, self._text(seen)[-3000:]))
            seen += chunk
            clean = ANSI.sub(b"", seen)
            m = PROMPT.search(clean)
            if m and (len(clean) - len(m.group(0))) > len(line):
                rc = int(m.group(1))
                out = self._text(clean[:m.start()])
                if check and rc != 0:
                    raise WalkFailed("%s: %r exited %d:\n%s" % (what or "the walk", line, rc, out))
                return rc, out
            tail = clean[answered_to:]
            for pattern, reply, quiet in self.answers:
                if pattern.search(tail):
                    if quiet:
                        # puddle, sudo and ssh print the prompt, then turn echo
                        # off and flush what was typed ahead (the terminal is
                        # the container's: its state cannot be seen from here).
                        time.sleep(0.5)
                    os.write(self.master, reply.encode() + b"\n")
                    answered_to = len(clean)
                    break

    @staticmethod
    def _text(b):
        return ANSI.sub(b"", b).decode(errors="replace")

    def close(self):
        try:
            os.write(self.master, b"exit\n")
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        finally:
            os.close(self.master)


def answers_for(user):
    return [
        (re.compile(rb"[Pp]assphrase[^\n]*: $"), PASSPHRASE, True),
        (re.compile(rb"\[sudo\] password for [^\n]*: $"), PASSWORD, True),
        (re.compile(rb"%s@[^\n]*'s password: $" % SERVER_USER.encode()), SERVER_PASSWORD, True),
        (re.compile(rb"\(yes/no[^\n]*\)\? $"), "yes", False),
        (re.compile(rb"\[Y/n\] $"), "Y", False),
    ]


# -- the walk --------------------------------------------------------------

class UserSystem(booted.Machine):
    """A root with nothing of the project, booted under a throwaway overlay;
    the package comes in the way a user installs it."""

    def __init__(self, distro, root, binds):
        super().__init__(distro)
        self.name = "walk%s-%d" % (distro[-2:], os.getpid())
        self.root = root
        self.binds = binds
        self._next_uid = UIDS[distro]

    def check_prerequisites(self):
        if os.geteuid() != 0:
            raise booted.Skip("needs root (boots a container)")

    def install(self):
        pass  # the walk's first step does it


def must(cond, what, out=""):
    if not cond:
        raise WalkFailed(what + ("\n" + out if out else ""))
    log("ok   " + what)


def good_signature(out):
    """The key of a good signature in `git verify-commit`'s output, or None."""
    m = re.search(r'Good "git" signature for \S+ with ED25519 key (SHA256:\S+)', out)
    return m.group(1) if m else None


def walk(distro):
    t_start = time.monotonic()
    if os.geteuid() != 0:
        raise booted.Skip("needs root (boots a container)")
    steps = quick_start(open(README).read())
    root = make_user_root(distro)
    deb = build_deb(distro, booted.TRIXIE_ROOT)
    mirror = mirror_of(root)

    with tempfile.TemporaryDirectory(prefix="puddle-walk.") as tmp:
        os.chmod(tmp, 0o755)
        sock = os.path.join(tmp, "mirror.sock")
        fwd = MirrorForwarder(sock, mirror)
        threading.Thread(target=fwd.serve_forever, daemon=True).start()
        m = UserSystem(distro, root, "--bind-ro=%s:/run/walk-deb --bind=%s:/run/walk-host"
                       % (os.path.dirname(deb), tmp))
        try:
            t_boot = time.monotonic()
            with m:
                log(m.boot_line + " (%.1f s)" % (time.monotonic() - t_boot))
                walk_inside(m, steps, deb, mirror)
        finally:
            fwd.shutdown()
            fwd.server_close()
    log("walk %s: passed in %.0f s" % (distro, time.monotonic() - t_start))


def walk_inside(m, steps, deb, mirror):
    # -- the system as the user has it before the quick start
    m.exec(["sh", "-c", "echo '127.0.0.1 %s server' >>/etc/hosts" % mirror[0]])
    m.exec(["systemd-run", "--unit", "walk-mirror", "--socket-property=ListenStream=127.0.0.1:%d" % mirror[1],
            "/usr/lib/systemd/systemd-socket-proxyd", "/run/walk-host/mirror.sock"])
    t = time.monotonic()
    r = m.exec(["apt-get", "update", "-q"], check=False, timeout=600)
    if r.returncode != 0:
        raise booted.Skip("apt-get update cannot reach the Debian mirror %s:%d:\n%s%s" % (mirror + (r.stdout[-1500:], r.stderr[-1500:])))
    log("ok   apt-get update, as apt-daily does (%.0f s)" % (time.monotonic() - t))
    user = m.add_user()
    newcomer = m.add_user()  # logs in for the first time after the install
    m.exec(["usermod", "-aG", "sudo", user])
    m.exec(["chpasswd"], input="%s:%s\n" % (user, PASSWORD))
    m.exec(["useradd", "-m", "-u", str(UIDS[m.distro] + 9), "-s", "/bin/bash", SERVER_USER])
    m.exec(["chpasswd"], input="%s:%s\n" % (SERVER_USER, SERVER_PASSWORD))
    m.exec(["systemd-run", "--unit", "walk-sshd", "-p", "RuntimeDirectory=sshd", "/usr/sbin/sshd", "-D", "-e"])
    m.exec(["install", "-o", user, "-m", "0644", "/run/walk-deb/" + os.path.basename(deb), "/home/%s/" % user])
    answers = answers_for(user)

    term = Terminal(m, user, answers)
    try:
        # The user's own git: an identity and a repository with a change staged.
        term.run("git config --global user.name Walker && git config --global user.email %s@example.org && "
                 "git init -q ~/project && (cd ~/project && echo hello >README && git add README)" % user,
                 check=True, what="the user's git repository")
        old = None
        for number, title, commands in steps:
            if not commands:
                log("skip step %d (%s): no command block" % (number, title))
                continue
            if any(SECOND_MACHINE.search(c) for c in commands):
                log("skip step %d (%s): it needs a second machine; tests/integration/test_pair.py "
                    "(booted: pair-debian12/13) covers pairing" % (number, title))
                continue
            log("step %d: %s" % (number, title))
            for c in commands:
                if c.startswith("git "):
                    term.run("cd ~/project", check=True, what="into the user's repository")
                t = time.monotonic()
                rc, out = term.run(c)
                must(rc == 0, "%s  (%.1f s)" % (c, time.monotonic() - t), out)
                old = check_after(m, term, user, newcomer, c, out, old) or old
        must(old is not None and old.get("rekeyed"), "the quick start signs a commit and changes the key")
    finally:
        term.close()


def check_after(m, term, user, newcomer, command, out, state):
    """The walk's checks after a README command; returns state to carry."""
    verb = command.split("#")[0].strip()
    if verb.startswith("systemctl --user start") and "puddle-agent.socket" in verb:
        # New logins get the sockets by themselves: a user who never logged
        # in before the install, with no step of the walk's.
        t = Terminal(m, newcomer, [])
        try:
            rc, o = t.run("systemctl --user is-active puddle-agent.socket puddle-agent-ssh.socket")
        finally:
            t.close()
        states = [w for w in o.split() if w in ("active", "inactive", "failed", "activating")]
        must(rc == 0 and states == ["active", "active"], "a new login: both agent sockets listen", o)
    elif verb.startswith("ssh-copy-id"):
        target = verb.split()[-1]
        rc, o = term.run("ssh -o BatchMode=yes %s 'echo walk: logged in as $USER'" % target)
        must(rc == 0 and "walk: logged in as %s" % SERVER_USER in o,
             "ssh %s with the puddle key alone (BatchMode: no password)" % target, o)
    elif "git verify-commit" in verb:
        key = good_signature(out)
        must(key, "the README's commit is signed and verifies", out)
        rc, head = term.run("git rev-parse HEAD")
        head = head.strip().splitlines()[-1]
        verified = verify_in_new_login(m, user, [head])
        must(verified[head] == key, "it verifies in a new login shell (nothing exported by hand)")
        return {"commit": head, "key": key}
    elif verb.startswith("puddle rekey"):
        must(state and "commit" in state, "a signed commit was made before the rekey")
        rc, o = term.run('echo again >>README && git commit -q -a -S -m "after the rekey"')
        must(rc == 0, "a commit signed after the rekey", o)
        rc, head = term.run("git rev-parse HEAD")
        head = head.strip().splitlines()[-1]
        verified = verify_in_new_login(m, user, [state["commit"], head])
        must(verified[state["commit"]] == state["key"], "after the rekey, the old commit still verifies (old key)")
        must(verified[head] and verified[head] != state["key"], "the new commit verifies, with the new key")
        return dict(state, rekeyed=True)
    return None


def verify_in_new_login(m, user, commits):
    t = Terminal(m, user, [])
    try:
        result = {}
        for c in commits:
            rc, o = t.run("cd ~/project && git verify-commit %s" % c)
            result[c] = good_signature(o) if rc == 0 else None
            if not result[c]:
                raise WalkFailed("git verify-commit %s in a new login shell failed (%d):\n%s" % (c, rc, o))
        return result
    finally:
        t.close()


def main():
    distro = sys.argv[1] if len(sys.argv) == 2 else None
    if distro not in SUITES:
        sys.exit("usage: walk.py debian12|debian13")
    # meson's timeout sends SIGTERM: power the container off on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated (timeout?)"))
    try:
        walk(distro)
    except booted.Skip as e:
        print("SKIP: %s" % e)
        sys.exit(77)
    except (WalkFailed, booted.BootError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    main()

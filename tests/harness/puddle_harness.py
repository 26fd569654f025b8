"""Test harness for puddle: a real ``systemd --user`` session and a real system bus.

The machines this project runs on (developers' VMs and CI) are Debian 12 VMs where we are
root but PID 1 is not systemd: there is no logind, no journald, no system manager. This
module recreates, for one throwaway user, what logind + ``user@.service`` + journald would
have set up (the manual recipe is in shared/SANDBOX.md), and a system bus with polkitd.

Only the Python standard library is used; it must run under Debian's /usr/bin/python3.

    from puddle_harness import UserSession, SystemBus, Skip

    with SystemBus() as bus, UserSession() as s:
        s.systemctl("start", "puddle-agent.socket")
        r = s.run(["puddle", "status"])
        print(s.journal(unit="puddle-agent.service"))

See README.md next to this file for how it works and the pitfalls found on the way.
Running this file directly (``--journal-server``) is internal: see _journal_server().
"""

import ctypes
import errno
import fcntl
import json
import os
import platform
import pwd
import re
import secrets
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

__all__ = [
    "Skip", "HarnessError", "require_root", "wait_until",
    "UserSession", "SystemBus", "cgroup_hierarchies",
]

SYSTEMD = "/usr/lib/systemd/systemd"
POLKITD = "/usr/lib/polkit-1/polkitd"
SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
SYSTEM_BUS_PIDFILE = "/run/dbus/pid"   # <pidfile> of /usr/share/dbus-1/system.conf
POLKIT_RULES_DIR = "/etc/polkit-1/rules.d"
POLKIT_ACTIONS_DIR = "/usr/share/polkit-1/actions"
# While stop_polkit() is in force, polkit's D-Bus activation file is moved
# aside, so the bus answers ServiceUnknown, as on a machine without polkit.
# (Kept outside /run: a reboot must not lose it.)
POLKIT_SERVICE_FILE = "/usr/share/dbus-1/system-services/org.freedesktop.PolicyKit1.service"
HIDDEN_POLKIT_SERVICE_FILE = "/var/tmp/puddle-harness-org.freedesktop.PolicyKit1.service"
# Serialises creating/removing the cgroup dirs that parallel harnesses share (user.slice)
# and the shared state under STATE_ROOT.
LOCK_FILE = "/run/lock/puddle-harness.lock"
STATE_ROOT = "/run/puddle-harness"
SESSIONS_DIR = STATE_ROOT + "/sessions"   # one record per live UserSession, see _reap_stale
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


class Skip(Exception):
    """A prerequisite is missing on this machine (not root, no systemd, no cgroupfs...).

    Tests should report this as skipped (exit 77). Things that *should* work once the
    prerequisites are there (the manager crashing, polkitd never showing up) raise
    HarnessError instead, so a broken harness can't pass CI as a silent skip."""


class HarnessError(RuntimeError):
    """Something that should have worked on this machine did not."""


def require_root():
    if os.geteuid() != 0:
        raise Skip("needs root (creates users, cgroups, a system bus)")


def wait_until(pred, timeout=10.0, interval=0.1, what=None):
    """Poll pred() until it returns something truthy; return that value.

    On timeout return the last (falsy) value, or raise TimeoutError if `what` names the
    thing waited for -- that gives failing tests a readable message for free."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            if what is not None:
                raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
            return value
        time.sleep(interval)


def _need_exe(path):
    if not os.access(path, os.X_OK):
        raise Skip("%s not found (see scripts/install-deps.sh)" % path)
    return path


def _which(name):
    path = shutil.which(name, path=DEFAULT_PATH)
    if path is None:
        raise Skip("%s not found (see scripts/install-deps.sh)" % name)
    return path


class _Lock:
    """flock()-based machine-wide lock, see LOCK_FILE."""

    def __enter__(self):
        os.makedirs(os.path.dirname(LOCK_FILE), exist_ok=True)
        self._fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self._fd)  # closing drops the flock


def _pid_alive(pid):
    """True if pid exists and is not a zombie (zombies can't be killed, only reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            # The state field follows the ")" that ends the command name.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _start_time(pid):
    """The process' start time (clock ticks since boot): with the PID, identifies it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _pids_of_uid(uid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid == uid and _pid_alive(int(entry)):
                pids.append(int(entry))
        except FileNotFoundError:
            pass
    return pids


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except (OSError, TypeError):
        return default


# --------------------------------------------------------------------------- cgroups

def cgroup_hierarchies():
    """Mount points of the cgroup hierarchies systemd tracks processes in.

    That is the cgroup2 ("unified") hierarchy plus, on legacy/hybrid layouts, the named
    v1 hierarchy "name=systemd". Controller-only v1 hierarchies (cpu, memory...) are left
    alone: nothing is delegated there, just as with a real user@.service on a hybrid
    system. Handles v2-only (/sys/fs/cgroup is cgroup2), hybrid (this VM:
    /sys/fs/cgroup/systemd + /sys/fs/cgroup/unified) and legacy (name=systemd only)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            mountpoint = pre.split()[4]
            fstype, _source, options = (post.split() + ["", ""])[:3]
            if not mountpoint.startswith("/sys/fs/cgroup"):
                continue
            if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
                found.append(mountpoint)
    return found


def _cgroup_procs(path):
    """PIDs in the cgroup tree rooted at path (all levels)."""
    pids = set()
    for dirpath, _dirs, files in os.walk(path):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(x) for x in f.read().split())
            except OSError:
                pass  # raced with an rmdir by the manager itself
    return pids


def _user_slice_marker(hierarchy):
    return os.path.join(STATE_ROOT, "made-user.slice" + hierarchy.replace("/", "-"))


def _rmdir_tree(path):
    """rmdir a cgroup tree deepest first (cgroup dirs can't be removed recursively)."""
    for dirpath, _dirs, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- syscalls
# Python 3.11 (Debian 12) has no os.unshare/os.setns, and nothing for keyrings.

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p]
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_SLAVE = 4096, 16384, 1 << 19
_KEYCTL_NR = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 310,
              "s390x": 280, "i686": 288, "i386": 288, "armv7l": 311}


def _make_inaccessible_nodes(path):
    """What PID 1 creates at boot (make_inaccessible_nodes() in systemd): one
    inaccessible node of each file type, which service sandboxing
    (ProtectSystem=, ProtectHome=, PrivateTmp=, ProtectKernelTunables=, ...)
    mounts over whatever a unit must not see. Without them every such option
    fails with "Failed to set up mount namespacing: No such file or directory"."""
    import stat as _stat
    os.mkdir(path, 0o755)
    os.mkdir(os.path.join(path, "dir"), 0)
    for name, kind in (("reg", _stat.S_IFREG), ("fifo", _stat.S_IFIFO),
                       ("chr", _stat.S_IFCHR), ("blk", _stat.S_IFBLK)):
        os.mknod(os.path.join(path, name), kind, os.makedev(0, 0))
        os.chmod(os.path.join(path, name), 0)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.path.join(path, "sock"))
    finally:
        sock.close()
    os.chmod(os.path.join(path, "sock"), 0)
    os.chmod(os.path.join(path, "dir"), 0)
    os.chmod(path, 0o555)


def _check(ret, what):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def _mount_bind(src, dst):
    _check(_libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None),
           "bind-mount %s on %s" % (src, dst))


def _fresh_session_keyring():
    """What pam_keyinit does at login: join a new anonymous session keyring (owned by the
    already dropped uid) and link the user keyring into it.

    Without this the child would keep root's session keyring -- and, as its possessor,
    could even read root's keys. Called in the child between fork and exec."""
    nr = _KEYCTL_NR.get(platform.machine())
    if nr is None:
        return
    KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_LINK = 1, 8
    KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
    if _libc.syscall(nr, KEYCTL_JOIN_SESSION_KEYRING, None) >= 0:
        _libc.syscall(nr, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING)


# --------------------------------------------------------------------------- journal

def _journal_server(rundir, logpath, debug=False):
    """A minimal journald stand-in, run as a separate process (no threads in the test
    process: preexec_fn and threads don't mix).

    Serves the two sockets systemd talks to: journal/socket (native datagram protocol,
    used by the manager's own logging and sd_journal_*()) and journal/stdout (stream
    protocol: what units' stdout/stderr are connected to with the default
    StandardOutput=journal). Writes one text line per log line to logpath:
        HH:MM:SS.mmm UNIT IDENTIFIER[PID]: MESSAGE
    """
    jdir = os.path.join(rundir, "journal")
    os.makedirs(jdir, exist_ok=True)
    out = open(logpath, "a", buffering=1, errors="replace")

    forked = {}  # pid -> unit, from the manager's "Forked ... as PID" messages
    FORKED = re.compile(r"\bForked .* as (\d+)$")

    def unit_of(pid, stream=False):
        # A user manager doesn't name the unit in the stream header (only the system
        # manager does) and native messages carry none. journald takes it from the
        # sender's cgroup, but that is racy: a unit's process connects its stdout
        # while still in the manager's init.scope (it is moved into the unit's cgroup
        # later), and a short-lived one may be gone from /proc by the time we look. So
        # the manager's own word on which PID it forked for which unit comes first.
        if pid in forked:
            return forked[pid]
        for line in _read("/proc/%d/cgroup" % pid).splitlines():
            parts = line.split(":", 2)[-1].split("/")
            units = [p for p in parts if p.endswith((".service", ".scope", ".socket"))]
            if units and not (stream and units[-1] == "init.scope"):
                return units[-1]
        return "-"

    def emit(unit, ident, pid, msg):
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
        for line in msg.splitlines() or [""]:
            out.write("%s %s %s[%s]: %s\n" % (stamp, unit or "-", ident or "?", pid, line))

    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.setblocking(False)
    dgram.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    dgram.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    dgram.bind(os.path.join(jdir, "socket"))
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.bind(os.path.join(jdir, "stdout"))
    stream.listen(128)
    for name in ("socket", "stdout"):
        os.chmod(os.path.join(jdir, name), 0o666)  # every user logs there

    def parse_native(data):
        # KEY=VALUE\n, or KEY\n<le64 size><binary value>\n for values with newlines.
        fields, i = {}, 0
        while i < len(data):
            nl = data.find(b"\n", i)
            if nl < 0:
                break
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                i = nl + 1
            else:
                (size,) = struct.unpack_from("<Q", data, nl + 1)
                k, v = line, data[nl + 9:nl + 9 + size]
                i = nl + 9 + size + 1
            fields[k.decode(errors="replace")] = v.decode(errors="replace")
        return fields

    def on_datagrams():
        while True:
            try:
                msg = dgram.recvmsg(1 << 20, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            try:
                on_datagram(*msg[:2])
            except Exception as e:  # a malformed message must not stop the logging
                out.write("puddle-harness-journal: %r\n" % (e,))

    def on_datagram(data, anc):
        pid = "?"
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
            elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                # Big messages come as a sealed memfd with an empty datagram.
                for fd in struct.unpack("%di" % (len(payload) // 4), payload):
                    with os.fdopen(fd, "rb") as f:
                        f.seek(0)
                        data = f.read()
        f = parse_native(data)
        unit = f.get("USER_UNIT") or f.get("UNIT") or (unit_of(pid) if pid != "?" else "-")
        msg = f.get("MESSAGE", "")
        # The manager runs at debug level only to say which PID it forked for which
        # unit: a service that exits quickly is gone from /proc before we can look up
        # its cgroup. Debug messages are otherwise dropped (they are many).
        m = FORKED.search(msg)  # "foo.service: Forked /bin/sh as 1234"
        if m and unit != "-":
            if len(forked) > 100000:
                forked.clear()
            forked[int(m.group(1))] = unit
        if f.get("PRIORITY") == "7" and not debug:
            return
        emit(unit, f.get("SYSLOG_IDENTIFIER", "?"), f.get("SYSLOG_PID", pid), msg)

    conns = {}

    def on_accept():
        conn, _ = stream.accept()
        conn.setblocking(False)
        pid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        conns[conn] = {"buf": b"", "hdr": None, "pid": pid, "unit": None}
        sel.register(conn, selectors.EVENT_READ, ("conn", conn))

    def on_conn(conn):
        st = conns[conn]
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        st["buf"] += data
        if st["hdr"] is None:
            # Header: identifier, unit, priority, level_prefix, syslog, kmsg, console.
            if st["buf"].count(b"\n") < 7:
                if data:
                    return
            else:
                parts = st["buf"].split(b"\n", 7)
                st["hdr"] = [p.decode(errors="replace") for p in parts[:7]]
                st["buf"] = parts[7]
        if st["hdr"] is not None:
            lines = st["buf"].split(b"\n")
            st["buf"] = lines.pop() if data else b""
            if not data and lines and lines[-1] == b"":
                lines.pop()
            ident, unit, _prio, level_prefix = st["hdr"][:4]
            if not unit and lines:
                if st["unit"] in (None, "-"):
                    # The manager logged "Forked" right after fork(), long before the
                    # program could write anything: make sure we have read that.
                    on_datagrams()
                    st["unit"] = unit_of(st["pid"], stream=True)
                unit = st["unit"]
            for raw in lines:
                line = raw.decode(errors="replace")
                if level_prefix == "1" and line.startswith("<") and line[2:3] == ">":
                    line = line[3:]
                emit(unit, ident, st["pid"], line)
        if not data:
            sel.unregister(conn)
            conn.close()
            del conns[conn]

    sel = selectors.DefaultSelector()
    sel.register(dgram, selectors.EVENT_READ, ("dgram", None))
    sel.register(stream, selectors.EVENT_READ, ("accept", None))
    # SIGTERM (from cleanup) wakes the select() through this pipe.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda *_: None)
    sel.register(wake_r, selectors.EVENT_READ, ("stop", None))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stop = False
    while not stop:
        for key, _ in sel.select():
            kind, conn = key.data
            try:
                if kind == "dgram":
                    on_datagrams()
                elif kind == "accept":
                    on_accept()
                elif kind == "conn":
                    on_conn(conn)
                else:
                    stop = True
            except Exception as e:  # a malformed message must not stop the logging
                out.write("puddle-harness-journal: %r\n" % (e,))
    # Cleanup stops us after the manager and every unit are gone: all they wrote is
    # queued by now, so read it out rather than lose the last lines.
    on_datagrams()
    for conn in list(conns):
        conn.setblocking(True)
        conn.settimeout(1)
        while conn in conns:
            on_conn(conn)
    out.close()


# --------------------------------------------------------------------------- UserSession

_sigterm = {"depth": 0, "previous": None}


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _sigterm_guard(delta):
    """While a session is open, SIGTERM (meson test's timeout, `kill`) raises SystemExit
    so the `with` blocks clean up, instead of killing the process and leaking the user,
    its manager and cgroups. Only where nobody else handles SIGTERM already."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        return
    if delta > 0:
        if _sigterm["depth"] == 0 and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            _sigterm["previous"] = signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm["depth"] += 1
    elif _sigterm["depth"] > 0:
        _sigterm["depth"] -= 1
        if _sigterm["depth"] == 0 and _sigterm["previous"] is not None:
            signal.signal(signal.SIGTERM, _sigterm["previous"])
            _sigterm["previous"] = None

class UserSession:
    """A throwaway user with a running ``systemd --user`` manager and user bus.

    Context manager. On entry: useradd, /run/user/$uid, delegated cgroups as logind would
    create them, a journald stand-in, and the manager, waited for until it answers. On
    exit (also after exceptions or a half-finished start): all of that undone.

    The manager runs in a private mount namespace in which /run/systemd is a directory
    of ours holding `system/` (what sd_booted() checks, and what systemd --user refuses
    to start without) and `journal/` (sockets served by _journal_server). So the
    machine-wide /run/systemd/system never exists, units see a booted system just as in
    production, and both the manager's messages and units' stdout/stderr (default
    StandardOutput=journal) are collected, tagged with the unit: see journal().
    Processes started with run()/popen() join that namespace too, and are put into the
    cgroup user-$uid.slice/puddle-harness.scope (the analogue of a logind session scope)
    so cleanup finds anything they leave behind.
    """

    def __init__(self, name_prefix="pdt", env_extra=None, wait_bus=True,
                 start_timeout=20.0, stop_timeout=15.0):
        self.name_prefix = name_prefix
        self.env_extra = dict(env_extra or {})
        self.wait_bus = wait_bus
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.user = self.uid = self.gid = self.home = self.runtime_dir = None
        self.version = None
        self.manager = None           # Popen of systemd --user
        self.journald = None          # Popen of the journal stand-in
        self.workdir = None           # root-only dir: logs, our /run/systemd
        self._user_created = False
        self._created = []            # cgroup dirs we made, in creation order
        self._slices = []
        self._manager_procs = []      # cgroup.procs files to put the manager in
        self._scope_procs = []        # ... and processes of run()/popen()
        self._mntns_fd = None         # the manager's mount namespace, for run()
        self._popens = []
        self._manager_argv = None     # tests of the harness itself may replace the manager
        self._cache = {}              # log contents kept after cleanup, for post-mortems
        self._reaping = False         # this object cleans up after a dead harness
        self._stale_pids = []         # root-owned helpers of such a dead harness

    # ---- context manager

    def __enter__(self):
        _sigterm_guard(+1)
        try:
            self._start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self._cleanup()
        return False

    # ---- environment and running things as the user

    def env(self):
        env = {
            "HOME": self.home,
            "USER": self.user,
            "LOGNAME": self.user,
            "SHELL": "/bin/bash",
            "PATH": DEFAULT_PATH,
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": self.runtime_dir,
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=%s/bus" % self.runtime_dir,
        }
        env.update(self.env_extra)
        return env

    def _preexec(self, procs_files, cwd, new_ns=False):
        """Build the function run in the child between fork and exec, still as root.

        Everything here needs root, so privileges are dropped here too, last. (That is
        why subprocess' user=/group= can't be used: they apply *before* preexec_fn.)
        The cgroup move needs root because on cgroup2 moving a process requires write
        access to cgroup.procs of the common ancestor of both cgroups: the root cgroup."""
        uid, gid = self.uid, self.gid
        # Resolved here, not in the child: NSS lookups after fork() can deadlock if the
        # test process has threads.
        groups = os.getgrouplist(self.user, gid)
        nsfd = self._mntns_fd
        if new_ns:
            # Pre-compute outside the child: keep everything already in /run/systemd
            # (logind/networkd state dirs...) visible under our replacement.
            ours = os.path.join(self.workdir, "run-systemd")
            keep = [n for n in sorted(os.listdir("/run/systemd"))
                    if n not in os.listdir(ours) and not os.path.islink("/run/systemd/" + n)]
            for n in keep:
                target = os.path.join(ours, n)
                if os.path.isdir("/run/systemd/" + n):
                    os.makedirs(target, exist_ok=True)
                elif not os.path.exists(target):
                    open(target, "w").close()

        def preexec():
            try:
                pid = str(os.getpid())
                for procs in procs_files:
                    with open(procs, "w") as f:
                        f.write(pid)
                if new_ns:
                    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
                    # Slave: the host's later mounts still show up in here, ours don't leak out.
                    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "make / rslave")
                    for n in keep:
                        _mount_bind("/run/systemd/" + n, os.path.join(ours, n))
                    _mount_bind(ours, "/run/systemd")
                elif nsfd is not None:
                    _check(_libc.setns(nsfd, CLONE_NEWNS), "setns(mnt)")
                    os.chdir(cwd)  # setns() moved us to the namespace's root
                os.setgroups(groups)
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                _fresh_session_keyring()
            except BaseException as e:
                # subprocess only reports "Exception occurred in preexec_fn".
                os.write(2, ("puddle_harness preexec: %r\n" % (e,)).encode())
                raise
        return preexec

    def _spawn_kwargs(self, env, cwd):
        full_env = self.env()
        if env:
            full_env.update(env)
        cwd = cwd or self.home
        return dict(env=full_env, cwd=cwd, start_new_session=True,
                    preexec_fn=self._preexec(self._scope_procs, cwd))

    def popen(self, argv, env=None, cwd=None, **kw):
        """Start argv as the user in the session, without waiting. `env` is merged into
        env(). Other keyword args go to subprocess.Popen (stdin defaults to /dev/null so
        nothing reads the test's terminal). Killed at cleanup if still running."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **self._spawn_kwargs(env, cwd), **kw)
        self._popens.append(p)
        return p

    def run(self, argv, input=None, check=False, timeout=60, env=None, pass_fds=(), cwd=None):
        """Run argv as the user in the session and capture its output (str, or bytes if
        input is bytes). `env` is merged into env()."""
        return subprocess.run(
            argv, input=input, check=check, timeout=timeout, pass_fds=pass_fds,
            capture_output=True, text=not isinstance(input, bytes),
            stdin=subprocess.DEVNULL if input is None else None,
            **self._spawn_kwargs(env, cwd))

    def run_with_passphrases(self, argv, passphrases=None, input=None, timeout=60):
        """run(), with `passphrases` (a list of lines) in a pipe whose descriptor
        number replaces every "FD" in argv (puddle's --passphrase-fd FD)."""
        if passphrases is None:
            return self.run(argv, input=input, timeout=timeout)
        r, w = os.pipe()
        try:
            os.write(w, "".join(p + "\n" for p in passphrases).encode())
            os.close(w)
            w = None
            return self.run([str(r) if a == "FD" else a for a in argv], input=input, pass_fds=(r,), timeout=timeout)
        finally:
            os.close(r)
            if w is not None:
                os.close(w)

    def systemctl(self, *args, check=True, timeout=60):
        """systemctl --user ARGS as the user; raises HarnessError (with the output and the
        unit's journal lines) if it fails and check is true."""
        r = self.run(["systemctl", "--user", "--no-pager"] + list(args), timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError("systemctl --user %s failed (%d): %s%s\n%s"
                               % (" ".join(args), r.returncode, r.stdout, r.stderr,
                                  self._log_tail()))
        return r

    def write_file(self, relpath, content, mode=0o644):
        """Write a file under the user's home, owned by the user (parents too)."""
        path = os.path.join(self.home, relpath)
        parent, missing = os.path.dirname(path), []
        while not os.path.isdir(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(missing):
            os.mkdir(d, 0o755)
            os.chown(d, self.uid, self.gid)
        with open(path, "w" if isinstance(content, str) else "wb") as f:
            f.write(content)
        os.chmod(path, mode)
        os.chown(path, self.uid, self.gid)
        return path

    # ---- logs

    def _file(self, name):
        # After cleanup the work dir is gone (unless kept) and the cache answers.
        if name in self._cache:
            return self._cache[name]
        return _read(os.path.join(self.workdir, name)) if self.workdir else ""

    def journal(self, unit=None, since=0):
        """The session's journal as text, one line per message:
            HH:MM:SS.mmm UNIT IDENTIFIER[PID]: MESSAGE
        with the manager's own messages (identifier "systemd") and units' stdout/stderr.
        `unit` keeps only that unit's lines (the service's output *and* the manager's
        messages about it); `since` is an offset from journal_mark().
        Output of programs that block-buffer stdout (python print without flush, C stdio)
        only shows up when they flush or exit."""
        text = self._file("journal.log")[since:]
        if unit is None:
            return text
        return "".join(l for l in text.splitlines(True) if l.split(" ", 2)[1:2] == [unit])

    def journal_mark(self):
        return len(self._file("journal.log"))

    def wait_journal(self, text, timeout=10.0, unit=None, since=0):
        """Wait until `text` shows up in journal(unit, since); return that journal."""
        return wait_until(lambda: text in self.journal(unit, since) and self.journal(unit, since),
                          timeout, what="%r in the session journal" % text)

    def manager_log(self):
        """The manager's own messages (from the journal) plus anything it wrote to its
        stdout/stderr (only early start-up failures, before it found the journal)."""
        own = "".join(l for l in self.journal().splitlines(True)
                      if " systemd[%s]: " % (self.manager.pid if self.manager else "") in l)
        return self._file("manager.out") + own

    def _log_tail(self, n=40):
        lines = (self._file("manager.out") + self.journal()).splitlines()[-n:]
        return "--- session log (last %d lines) ---\n%s" % (n, "\n".join(lines))

    # ---- start

    def _start(self):
        require_root()
        self._reap_stale()
        _need_exe(SYSTEMD)
        for tool in ("useradd", "userdel", "systemctl", "busctl"):
            _which(tool)
        self._hierarchies = cgroup_hierarchies()
        if not self._hierarchies:
            raise Skip("no cgroup hierarchy for systemd under /sys/fs/cgroup")
        if not os.path.isdir("/run/systemd"):
            os.makedirs("/run/systemd", 0o755)  # only as the mount point for our own

        self.user = "%s%s" % (self.name_prefix, secrets.token_hex(3))
        r = subprocess.run(["useradd", "-m", "-s", "/bin/bash", self.user],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise HarnessError("useradd %s failed: %s" % (self.user, r.stderr.strip()))
        self._user_created = True
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.runtime_dir = "/run/user/%d" % self.uid

        self.workdir = tempfile.mkdtemp(prefix="puddle-harness-%s-" % self.user)
        self._write_record()
        ours = os.path.join(self.workdir, "run-systemd")
        os.mkdir(ours, 0o755)
        os.mkdir(os.path.join(ours, "system"), 0o755)
        _make_inaccessible_nodes(os.path.join(ours, "inaccessible"))
        # Also PID 1's at boot: where unit sandboxing stages the new root.
        os.mkdir(os.path.join(ours, "unit-root"), 0o755)

        # user-runtime-dir@.service's job: an empty 0700 dir. A leftover of a crashed run
        # with a recycled uid would leak its state into this one, so start clean.
        if os.path.lexists(self.runtime_dir):
            shutil.rmtree(self.runtime_dir)
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir(self.runtime_dir, 0o700)
        os.chown(self.runtime_dir, self.uid, self.gid)

        self._start_journal(ours)
        with _Lock():
            self._make_cgroups()
        self._write_record()
        self._start_manager()
        if self.wait_bus:
            self.wait_user_bus()

    def _start_journal(self, rundir):
        err = open(os.path.join(self.workdir, "journald.err"), "ab")
        try:
            self.journald = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--journal-server",
                 rundir, os.path.join(self.workdir, "journal.log")]
                + (["debug"] if os.environ.get("PUDDLE_HARNESS_DEBUG") else []),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True)
        finally:
            err.close()
        if self.journald.stdout.readline().strip() != b"ready":
            raise HarnessError("journal stand-in failed: %s" % self._file("journald.err"))

    def _make_cgroups(self):
        """What systemd + logind would create: user.slice/user-$uid.slice with
        user@$uid.service delegated (chowned) to the user, and a session scope."""
        for h in self._hierarchies:
            user_slice = os.path.join(h, "user.slice")
            slice_dir = os.path.join(user_slice, "user-%d.slice" % self.uid)
            if not os.path.isdir(user_slice):
                os.mkdir(user_slice)
                # Shared by parallel harnesses: whoever leaves it empty removes it, not
                # necessarily its creator. The marker says a harness made it.
                os.makedirs(STATE_ROOT, 0o755, exist_ok=True)
                open(_user_slice_marker(h), "w").close()
            if os.path.isdir(slice_dir):
                # Left over by a crashed run with the same (recycled) uid.
                if _cgroup_procs(slice_dir):
                    raise HarnessError("%s exists and has processes" % slice_dir)
                _rmdir_tree(slice_dir)
            service = os.path.join(slice_dir, "user@%d.service" % self.uid)
            scope = os.path.join(slice_dir, "puddle-harness.scope")
            for d in (slice_dir, service, scope):
                os.mkdir(d)
                self._created.append(d)
            self._slices.append(slice_dir)
            # Delegation = ownership of the dir and its control files (cgroup.procs,
            # cgroup.subtree_control, cgroup.threads...), so the manager can create and
            # populate sub-cgroups itself.
            os.chown(service, self.uid, self.gid)
            for name in os.listdir(service):
                os.chown(os.path.join(service, name), self.uid, self.gid)
            self._manager_procs.append(os.path.join(service, "cgroup.procs"))
            self._scope_procs.append(os.path.join(scope, "cgroup.procs"))

    def _start_manager(self):
        out = open(os.path.join(self.workdir, "manager.out"), "ab")
        try:
            self.manager = subprocess.Popen(
                # Log to our journal socket: the default for a user manager not started by
                # systemd is /dev/console, which the user can't open -- all lost.
                self._manager_argv or [SYSTEMD, "--user", "--log-target=journal",
                                       "--log-level=debug"],  # see _journal_server
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=self.env(),
                cwd=self.home, start_new_session=True,
                preexec_fn=self._preexec(self._manager_procs, self.home, new_ns=True))
        finally:
            out.close()
        # run() joins the manager's mount namespace; hold it open so a crashed manager
        # gives a clear error rather than processes running in the wrong namespace.
        def exited():
            return HarnessError("systemd --user exited with %s\n%s"
                                % (self.manager.returncode, self._log_tail()))
        try:
            self._mntns_fd = os.open("/proc/%d/ns/mnt" % self.manager.pid,
                                     os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.manager.wait(5)
            raise exited()

        def answers():
            if self.manager.poll() is not None:
                raise exited()
            r = self.run(["systemctl", "--user", "show", "-p", "Version", "--value"], timeout=10)
            return r.returncode == 0 and r.stdout.strip()
        try:
            self.version = wait_until(answers, self.start_timeout, 0.05,
                                      what="systemd --user to answer")
        except TimeoutError as e:
            raise HarnessError("%s\n%s" % (e, self._log_tail()))

    def wait_user_bus(self, timeout=15.0):
        """Wait until the manager is reachable on the user bus. This starts the socket-
        activated dbus.service (as the first D-Bus client of a login would), so tests
        don't race the manager's own connection to the bus."""
        def ready():
            r = self.run(["busctl", "--user", "call", "org.freedesktop.DBus",
                          "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "NameHasOwner", "s", "org.freedesktop.systemd1"], timeout=10)
            return r.returncode == 0 and "true" in r.stdout
        try:
            wait_until(ready, timeout, 0.05, what="org.freedesktop.systemd1 on the user bus")
        except TimeoutError as e:
            raise HarnessError("%s\n%s" % (e, self._log_tail()))

    # ---- leftovers of harnesses that died without cleaning up

    def _record_path(self):
        return os.path.join(SESSIONS_DIR, self.user + ".json")

    def _write_record(self):
        """Note what this session created, for _reap_stale() should we die (SIGKILL,
        a CI timeout) before our own cleanup runs."""
        rec = {"owner": os.getpid(), "owner_start": _start_time(os.getpid()),
               "user": self.user, "uid": self.uid, "gid": self.gid, "home": self.home,
               "workdir": self.workdir, "cgroups": self._created, "slices": self._slices,
               "journald": self.journald.pid if self.journald else None}
        os.makedirs(SESSIONS_DIR, 0o755, exist_ok=True)
        with open(self._record_path() + ".tmp", "w") as f:
            json.dump(rec, f)
        os.rename(self._record_path() + ".tmp", self._record_path())

    @classmethod
    def _reap_stale(cls):
        """Clean up after sessions whose harness process is gone."""
        try:
            names = os.listdir(SESSIONS_DIR)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(SESSIONS_DIR, name)
            try:
                with open(path) as f:
                    rec = json.load(f)
            except (OSError, ValueError):
                continue
            if _start_time(rec["owner"]) == rec["owner_start"]:
                continue  # its harness is alive: not stale
            # Claim it; of several harnesses starting at once only one wins the rename.
            claimed = path + ".reaping.%d" % os.getpid()
            try:
                os.rename(path, claimed)
            except OSError:
                continue
            old = cls()
            old._reaping = True
            old.user, old.uid, old.gid, old.home = rec["user"], rec["uid"], rec["gid"], rec["home"]
            old.runtime_dir = "/run/user/%d" % old.uid
            old.workdir = rec["workdir"]
            old._user_created = _user_exists(old.user)
            old._created = [d for d in rec["cgroups"] if not d.endswith("/user.slice")]
            old._slices = rec["slices"]
            jpid = rec.get("journald")
            if jpid and _pid_alive(jpid) and "--journal-server" in _read("/proc/%d/cmdline" % jpid) \
                    and old.workdir in _read("/proc/%d/cmdline" % jpid):
                old._stale_pids.append(jpid)
            sys.stderr.write("puddle_harness: cleaning up after dead harness %d (user %s)\n"
                             % (rec["owner"], old.user))
            old._cleanup()
            if old.cleanup_errors:
                os.rename(claimed, path)  # try again next time
            else:
                os.unlink(claimed)

    # ---- cleanup

    def _cleanup(self):
        """Undo everything; each step is guarded so one failure doesn't skip the rest."""
        errors = []
        step = _stepper(errors)
        step(self._stop_manager)
        for pid in self._stale_pids:
            _kill(pid, signal.SIGKILL)
        if self._user_created:
            step(self._clear_keyrings)
        step(self._kill_leftovers)
        step(self._remove_cgroups)
        if self._mntns_fd is not None:
            os.close(self._mntns_fd)
            self._mntns_fd = None
        step(self._stop_journal)
        if self.runtime_dir:
            step(shutil.rmtree, self.runtime_dir, True)
        if self._user_created:
            step(self._userdel)
        if self.workdir and os.path.isdir(self.workdir):
            for name in ("journal.log", "manager.out", "journald.err"):
                self._cache[name] = _read(os.path.join(self.workdir, name))
            if os.environ.get("PUDDLE_HARNESS_KEEP_LOGS"):
                sys.stderr.write("puddle_harness: logs kept in %s\n" % self.workdir)
            else:
                step(shutil.rmtree, self.workdir, True)
        if errors:
            # Report, but don't mask the test body's own exception. The session record
            # stays, so the next harness to start retries (see _reap_stale).
            sys.stderr.write("puddle_harness: cleanup problems: %s\n" % "; ".join(errors))
        elif self.user and not self._reaping:
            step(os.unlink, self._record_path())
        self.cleanup_errors = errors
        if not self._reaping:
            _sigterm_guard(-1)

    def _stop_manager(self):
        if self.manager is None or self.manager.poll() is not None:
            return
        # SIGTERM makes systemd --user go to exit.target: all units stopped cleanly.
        self.manager.send_signal(signal.SIGTERM)
        try:
            self.manager.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.manager.kill()
            self.manager.wait(5)

    def _clear_keyrings(self):
        # The kernel keeps a uid's user keyring (@u) and user-session keyring (@us) after
        # the user's last process and even the user are gone: the next throwaway user,
        # who gets the same uid back from useradd, would find our keys in its @u.
        for ring in ("@u", "@us"):
            r = self.run(["keyctl", "clear", ring], timeout=10)
            if r.returncode != 0:
                raise HarnessError("keyctl clear %s: %s" % (ring, r.stderr.strip()))

    def _kill_leftovers(self):
        if self.uid is None:
            return
        for p in self._popens:
            if p.poll() is None:
                p.kill()

        def ours():
            # Whatever is in our cgroups (setuid helpers included), plus any process of
            # the throwaway uid: it was created for us, so everything running as it is ours.
            pids = set(_pids_of_uid(self.uid))
            for d in self._slices:
                pids |= _cgroup_procs(d)
            return {p for p in pids if p != os.getpid() and _pid_alive(p)}

        for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
            for pid in ours():
                _kill(pid, sig)
            if wait_until(lambda: not ours(), grace, 0.05):
                break
        for p in self._popens:
            try:
                p.wait(1)  # reap our own children so they don't linger as zombies
            except subprocess.TimeoutExpired:
                pass
        left = ours()
        if left:
            raise HarnessError("processes survived SIGKILL: %s" % sorted(left))

    def _remove_cgroups(self):
        with _Lock():
            for d in reversed(self._created):
                def gone():
                    try:
                        if os.path.isdir(d):
                            _rmdir_tree(d)  # ours, including what the manager created
                        return True
                    except OSError as e:
                        if e.errno != errno.EBUSY:
                            raise
                        return False  # a just-killed process not reaped yet
                if not wait_until(gone, 5, 0.05):
                    raise HarnessError("could not remove cgroup %s" % d)
            self._created = []
            for h in cgroup_hierarchies():
                marker = _user_slice_marker(h)
                if os.path.exists(marker):
                    try:
                        # Never recursively: parallel harnesses' slices live below it.
                        os.rmdir(os.path.join(h, "user.slice"))
                    except FileNotFoundError:
                        pass
                    except OSError as e:
                        if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                            raise
                        continue  # still in use: the last one out removes it
                    os.unlink(marker)

    def _stop_journal(self):
        if self.journald is None or self.journald.poll() is not None:
            return
        self.journald.terminate()
        try:
            self.journald.wait(5)
        except subprocess.TimeoutExpired:
            self.journald.kill()
            self.journald.wait(5)
        self.journald.stdout.close()

    def _userdel(self):
        r = subprocess.run(["userdel", "-r", self.user], capture_output=True, text=True)
        # userdel -r warns (and may exit 12) when there is no mail spool; the user is
        # gone all the same, which is what we check.
        if _user_exists(self.user):
            raise HarnessError("userdel -r %s failed (%d): %s"
                               % (self.user, r.returncode, r.stderr.strip()))
        if os.path.exists(self.home):
            shutil.rmtree(self.home, ignore_errors=True)
        self._user_created = False


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# --------------------------------------------------------------------------- SystemBus

def _socket_answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _is_proc(pid, name):
    """pid is alive and runs `name` (guards against killing a recycled PID)."""
    if not pid or not _pid_alive(pid):
        return False
    return name in _read("/proc/%d/cmdline" % pid).split("\0")[0]


def _restore_polkit_service_file():
    if os.path.exists(HIDDEN_POLKIT_SERVICE_FILE) and not os.path.exists(POLKIT_SERVICE_FILE):
        shutil.move(HIDDEN_POLKIT_SERVICE_FILE, POLKIT_SERVICE_FILE)


def _stepper(errors):
    """For cleanups: step(fn, *args) runs one step, noting a failure in
    `errors` instead of skipping the steps after it."""
    def step(fn, *args):
        try:
            fn(*args)
        except Exception as e:
            errors.append("%s: %s" % (getattr(fn, "__name__", fn), e))
    return step


def _busctl_system(*args):
    return subprocess.run(["busctl", "--system", "call", "org.freedesktop.DBus",
                           "/org/freedesktop/DBus", "org.freedesktop.DBus"] + list(args),
                          capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)


class SystemBus:
    """The system dbus-daemon and polkitd, shared by all harnesses on the machine.

    Tests run in parallel (meson test does by default) and there is only one system
    bus, so a machine-wide state file (under the harness lock) records the dbus-daemon
    and polkitd the harness started and who uses them; the last user out stops them.
    A bus or polkitd that some *other* party runs is used but never stopped. Rules and
    action files are per instance and removed on exit -- or, if the test process died
    without cleaning up, by the next SystemBus, which finds them in the state file.

    Stopping polkit (stop_polkit) affects every parallel test, so tests that do it
    should not run alongside others that need polkit."""

    STATE_DIR = STATE_ROOT + "/sysbus"
    STATE = STATE_DIR + "/state.json"
    POLKIT_LOG = STATE_DIR + "/polkitd.log"

    def __init__(self, polkit=True, timeout=20.0):
        self.want_polkit = polkit
        self.timeout = timeout
        self.dbus_pid = None          # harness-started dbus-daemon (None: someone else's)
        self.polkit_pid = None        # harness-started polkitd
        self.started_dbus = False     # this instance started the bus
        self.workdir = None
        self._token = "%d:%s:%s" % (os.getpid(), _start_time(os.getpid()), secrets.token_hex(4))
        self._registered = False
        self._blocked = False         # we moved polkit's activation file aside
        self._rules = []
        self._actions = []            # (dest, backup-or-None)
        self.cleanup_errors = []

    def __enter__(self):
        _sigterm_guard(+1)
        try:
            self._start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self._cleanup()
        return False

    # ---- shared state (only touched under _Lock)

    @staticmethod
    def _alive(token):
        pid, start = token.split(":")[:2]
        return str(_start_time(int(pid))) == start

    @classmethod
    def _load(cls):
        try:
            with open(cls.STATE) as f:
                st = json.load(f)
        except (OSError, ValueError):
            st = {}
        st["users"] = [u for u in st.get("users", []) if cls._alive(u)]
        st.setdefault("owned", {})
        if not _is_proc(st.get("dbus_pid"), "dbus-daemon"):
            st["dbus_pid"] = None
        if not _is_proc(st.get("polkit_pid"), "polkitd"):
            st["polkit_pid"] = None
        for token in [t for t in st["owned"] if not cls._alive(t)]:
            cls._undo(st["owned"].pop(token))
        return st

    def _owned(self):
        return {"rules": self._rules, "actions": self._actions, "blocked": self._blocked,
                "workdir": self.workdir}

    @classmethod
    def _undo(cls, owned):
        """Remove what a SystemBus installed: its rules and action files, its block."""
        for path in owned["rules"]:
            if os.path.exists(path):
                os.unlink(path)
        for dest, backup in reversed(owned["actions"]):
            if backup and os.path.exists(backup):
                shutil.copyfile(backup, dest)
            elif os.path.exists(dest):
                os.unlink(dest)
        if owned["blocked"] and os.path.exists(HIDDEN_POLKIT_SERVICE_FILE):
            _restore_polkit_service_file()
            if _socket_answers(SYSTEM_BUS_SOCKET):
                _busctl_system("ReloadConfig")
        if owned.get("workdir"):
            shutil.rmtree(owned["workdir"], ignore_errors=True)

    def _record(self):
        """Put what this instance installed into the state file (takes the lock)."""
        with _Lock():
            st = self._load()
            st["owned"][self._token] = self._owned()
            self._save(st)

    @classmethod
    def _save(cls, st):
        os.makedirs(cls.STATE_DIR, 0o755, exist_ok=True)
        if not st["users"] and not st["dbus_pid"] and not st["polkit_pid"] and not st["owned"]:
            # Nothing left running: leave no trace (the polkitd log goes with it).
            shutil.rmtree(cls.STATE_DIR, ignore_errors=True)
            return
        with open(cls.STATE + ".tmp", "w") as f:
            json.dump(st, f)
        os.rename(cls.STATE + ".tmp", cls.STATE)

    @classmethod
    def shared_users(cls):
        """Tokens ("pid:random") of the SystemBus instances currently in use."""
        with _Lock():
            return cls._load()["users"]

    # ---- start

    def _start(self):
        require_root()
        dbus_daemon = _which("dbus-daemon")
        _which("busctl")
        if self.want_polkit:
            _need_exe(POLKITD)
            _which("pkcheck")
        self.workdir = tempfile.mkdtemp(prefix="puddle-harness-sysbus-")
        with _Lock():
            st = self._load()
            st["users"].append(self._token)
            st["owned"][self._token] = self._owned()
            self._registered = True
            if not _socket_answers(SYSTEM_BUS_SOCKET):
                os.makedirs("/run/dbus", exist_ok=True)
                self._remove_stale_files()
                # --fork returns once the bus listens; --print-pid says whom to stop.
                r = subprocess.run([dbus_daemon, "--system", "--fork", "--print-pid"],
                                   capture_output=True, text=True, timeout=30,
                                   stdin=subprocess.DEVNULL)
                if r.returncode != 0 or not r.stdout.strip().isdigit():
                    self._save(st)
                    raise HarnessError("dbus-daemon --system failed (%d): %s %s"
                                       % (r.returncode, r.stdout, r.stderr))
                st["dbus_pid"] = int(r.stdout.strip())
                self.started_dbus = True
            self.dbus_pid = st["dbus_pid"]
            self._save(st)
            wait_until(lambda: _socket_answers(SYSTEM_BUS_SOCKET), self.timeout,
                       what="the system bus socket")
        if self.want_polkit:
            self.start_polkit()

    def _remove_stale_files(self):
        # dbus-daemon refuses to start while its pidfile exists, and a SIGKILLed daemon
        # leaves it behind. Only called when nothing answers on the socket.
        try:
            with open(SYSTEM_BUS_PIDFILE) as f:
                pid = int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return
        if not pid or not _pid_alive(pid):
            os.unlink(SYSTEM_BUS_PIDFILE)

    # ---- queries

    def name_has_owner(self, name):
        r = _busctl_system("NameHasOwner", "s", name)
        return r.returncode == 0 and "true" in r.stdout

    def polkit_running(self):
        return self.name_has_owner("org.freedesktop.PolicyKit1")

    def _polkit_owner_pid(self):
        r = _busctl_system("GetConnectionUnixProcessID", "s", "org.freedesktop.PolicyKit1")
        return int(r.stdout.split()[1]) if r.returncode == 0 else None

    def polkit_log(self):
        return _read(self.POLKIT_LOG)

    def pkcheck(self, action_id, pid, details=None):
        """Ask polkit whether process `pid` may do `action_id`, without interaction.
        Returns the CompletedProcess: returncode 0 = authorized, 1 = not authorized,
        2 = authentication would be needed (a challenge), others = error."""
        argv = ["pkcheck", "--action-id", action_id, "--process", str(pid)]
        for k, v in (details or {}).items():
            argv += ["--detail", k, v]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)

    # ---- polkitd

    def _block_polkit_activation(self, block):
        """The system bus starts polkitd on demand (D-Bus activation through
        /usr/share/dbus-1/system-services), so after stop_polkit() the next pkcheck --
        or puddle's own polkit call -- would silently bring it back. Moving the
        activation file aside makes such calls fail with ServiceUnknown instead, as
        on a machine without polkit."""
        if block:
            if os.path.exists(POLKIT_SERVICE_FILE):
                shutil.move(POLKIT_SERVICE_FILE, HIDDEN_POLKIT_SERVICE_FILE)
            self._blocked = True
        elif self._blocked:
            _restore_polkit_service_file()
            self._blocked = False
        else:
            return
        r = _busctl_system("ReloadConfig")
        if r.returncode != 0:
            raise HarnessError("ReloadConfig of the system bus failed: %s" % r.stderr.strip())

    def start_polkit(self):
        """Make sure a polkitd serves the system bus (starting one if none does)."""
        with _Lock():
            self._block_polkit_activation(False)
            st = self._load()
            st["owned"][self._token] = self._owned()
            self._save(st)
            if self.polkit_running():
                self.polkit_pid = st["polkit_pid"]
                return
            # Detached (reparented to init) rather than our child: another test process
            # may be the last user and stop it, by PID.
            r = subprocess.run(["/bin/sh", "-c", 'setsid "$0" --no-debug </dev/null >>"$1" 2>&1 & echo $!',
                                POLKITD, self.POLKIT_LOG], capture_output=True, text=True, timeout=10)
            pid = int(r.stdout.strip())
            st["polkit_pid"] = self.polkit_pid = pid
            self._save(st)

            def up():
                if not _pid_alive(pid):
                    raise HarnessError("polkitd exited: %s" % self.polkit_log()[-2000:])
                return self.polkit_running()
            try:
                wait_until(up, self.timeout, 0.05, what="org.freedesktop.PolicyKit1")
            except TimeoutError as e:
                raise HarnessError("%s: %s" % (e, self.polkit_log()[-2000:]))

    def stop_polkit(self, block_activation=True):
        """Stop polkitd (the harness's, or one our own bus activated). With
        block_activation it stays down until start_polkit(): calls to it fail (as on a
        machine without polkit) instead of D-Bus-activating a new polkitd."""
        with _Lock():
            st = self._load()
            self._stop_polkit_locked(st)
            if block_activation:
                self._block_polkit_activation(True)
                st["owned"][self._token] = self._owned()
            self._save(st)
        # The bus drops the name once it notices the closed connection; wait, so a test
        # of "polkit is down" or a following start_polkit() sees a settled state.
        wait_until(lambda: not self.polkit_running(), 10, 0.05,
                   what="org.freedesktop.PolicyKit1 to disappear")

    def _stop_polkit_locked(self, st):
        pid = st["polkit_pid"]
        if pid is None and self.polkit_running():
            if st["dbus_pid"] is None:
                raise HarnessError("polkitd was not started by this harness; not stopping it")
            # D-Bus-activated by the harness's own bus, on behalf of a test: ours too.
            pid = self._polkit_owner_pid()
        if pid and _is_proc(pid, "polkitd"):
            _kill(pid, signal.SIGTERM)
            if not wait_until(lambda: not _pid_alive(pid), 10, 0.05):
                _kill(pid, signal.SIGKILL)
                wait_until(lambda: not _pid_alive(pid), 5, 0.05)
        st["polkit_pid"] = self.polkit_pid = None

    # ---- rules and actions

    def add_rule(self, name, js_text):
        """Install /etc/polkit-1/rules.d/NAME.rules, removed again on exit. polkitd
        notices it by itself (inotify), but asynchronously: wait for the effect."""
        if "/" in name or name.startswith("."):
            raise ValueError("bad rule name %r" % name)
        path = os.path.join(POLKIT_RULES_DIR, name + ".rules")
        if path not in self._rules:
            if os.path.exists(path):
                raise HarnessError("%s exists and is not ours" % path)
            self._rules.append(path)
        with open(path + ".tmp", "w") as f:
            f.write(js_text)
        os.chmod(path + ".tmp", 0o644)
        os.rename(path + ".tmp", path)  # polkitd must never read a half-written rule
        self._record()
        return path

    def remove_rule(self, name):
        path = os.path.join(POLKIT_RULES_DIR, name + ".rules")
        if path in self._rules:
            os.unlink(path)
            self._rules.remove(path)
            self._record()

    def install_action_file(self, path):
        """Copy a .policy file into /usr/share/polkit-1/actions, the only directory
        polkitd reads actions from. An existing file of that name is restored on exit."""
        dest = os.path.join(POLKIT_ACTIONS_DIR, os.path.basename(path))
        if not any(d == dest for d, _ in self._actions):
            backup = None
            if os.path.exists(dest):
                backup = os.path.join(self.workdir, os.path.basename(dest) + ".orig")
                shutil.copy2(dest, backup)
            self._actions.append((dest, backup))
            self._record()
        shutil.copyfile(path, dest + ".tmp")
        os.chmod(dest + ".tmp", 0o644)
        os.rename(dest + ".tmp", dest)
        return dest

    # ---- cleanup

    def _cleanup(self):
        errors = []

        def step(fn, *args):
            try:
                fn(*args)
            except FileNotFoundError:
                pass
            except Exception as e:
                errors.append("%s: %s" % (getattr(fn, "__name__", fn), e))

        for path in self._rules:
            step(os.unlink, path)
        self._rules = []
        for dest, backup in reversed(self._actions):
            if backup:
                step(shutil.copyfile, backup, dest)
            else:
                step(os.unlink, dest)
        self._actions = []
        if self._registered:
            with _Lock():
                st = self._load()
                if self._token in st["users"]:
                    st["users"].remove(self._token)
                st["owned"].pop(self._token, None)
                self._registered = False
                if self._blocked and _socket_answers(SYSTEM_BUS_SOCKET):
                    step(self._block_polkit_activation, False)
                if not st["users"]:
                    # Last one out: stop what the harness started.
                    if st["dbus_pid"] is not None or st["polkit_pid"] is not None:
                        step(self._stop_polkit_locked, st)
                    if st["dbus_pid"] is not None:
                        step(self._stop_dbus, st["dbus_pid"])
                        st["dbus_pid"] = None
                step(self._save, st)
        if self._blocked:
            step(_restore_polkit_service_file)  # the bus is gone; just put the file back
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if errors:
            sys.stderr.write("puddle_harness: SystemBus cleanup problems: %s\n" % "; ".join(errors))
        self.cleanup_errors = errors
        _sigterm_guard(-1)

    def _stop_dbus(self, pid):
        _kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not _pid_alive(pid), 10, 0.05):
            _kill(pid, signal.SIGKILL)
            wait_until(lambda: not _pid_alive(pid), 5, 0.05)
        # Left behind by a terminated dbus-daemon; either would make the next start fail
        # or look like a live bus.
        for p in (SYSTEM_BUS_PIDFILE, SYSTEM_BUS_SOCKET):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--journal-server":
        _journal_server(sys.argv[2], sys.argv[3], debug=sys.argv[4:] == ["debug"])
    else:
        sys.exit("usage: import this module; %s --journal-server RUNDIR LOGFILE is internal"
                 % sys.argv[0])


# Inside a booted container of tests/boot (PUDDLE_BOOTED=debian12|debian13):
# the same interface on the real logind, journald, system bus and polkitd.
if os.environ.get("PUDDLE_BOOTED"):
    from booted_session import BootedSystemBus as SystemBus  # noqa: E402,F811
    from booted_session import BootedUserSession as UserSession  # noqa: E402,F811

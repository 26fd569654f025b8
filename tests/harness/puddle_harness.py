"""Test harness for puddle: a real ``systemd --user`` session and a real system bus.

The machines this project runs on (developers' VMs and CI) are Debian 12 VMs where we are
root but PID 1 is not systemd, so there is no logind, no journald and no system manager.
This module recreates, for one throwaway user, what logind + ``user@.service`` would have
set up (see /work/shared/SANDBOX.md for the manual recipe), and a system bus with polkitd.

Only the Python standard library is used, and it must run under Debian's /usr/bin/python3.

    from puddle_harness import UserSession, SystemBus, Skip, require_root, wait_until

    with SystemBus() as sysbus, UserSession() as s:
        s.systemctl("start", "puddle-agent.socket")
        r = s.run(["puddle", "status"])
        print(s.journal())

See README.md next to this file for how it works and the pitfalls found on the way.
"""

import ctypes
import errno
import fcntl
import os
import platform
import pwd
import secrets
import shutil
import signal
import socket
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
SYSTEM_BUS_PIDFILE = "/run/dbus/pid"   # <pidfile> in /usr/share/dbus-1/system.conf
SD_BOOTED_DIR = "/run/systemd/system"  # what sd_booted() looks at
POLKIT_RULES_DIR = "/etc/polkit-1/rules.d"
POLKIT_ACTIONS_DIR = "/usr/share/polkit-1/actions"
# Serialises the parts of setup/teardown that touch machine-wide state (the sd_booted()
# marker, the shared user.slice cgroups), so several harnesses may run in parallel.
LOCK_FILE = "/run/lock/puddle-harness.lock"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


class Skip(Exception):
    """A prerequisite is missing on this machine (not root, no systemd, no cgroupfs...).

    Tests should report this as skipped (exit 77). Failures of things that *should*
    work here (the manager crashing, polkitd never showing up) raise HarnessError
    instead, so a broken harness can't pass CI as a silent skip."""


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
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


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


# --------------------------------------------------------------------------- cgroups

def cgroup_hierarchies():
    """Mount points of the cgroup hierarchies systemd tracks processes in.

    systemd uses the cgroup2 ("unified") hierarchy and, on legacy/hybrid layouts, the
    named v1 hierarchy "name=systemd". Controller-only v1 hierarchies (cpu, memory...)
    are irrelevant: nothing is delegated there, exactly as with a real user@.service on
    a hybrid system. Works for v2-only (/sys/fs/cgroup is cgroup2), hybrid (this VM:
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
            except (FileNotFoundError, OSError):
                pass  # raced with an rmdir by the manager itself
    return pids


def _rmdir_tree(path):
    """rmdir a cgroup tree deepest first (cgroup dirs can't be removed recursively)."""
    if not os.path.isdir(path):
        return
    for dirpath, _dirs, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- keyrings

_KEYCTL_NR = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 310,
              "s390x": 280, "i686": 288, "i386": 288, "armv7l": 311}
_libc = ctypes.CDLL(None, use_errno=True)


def _fresh_session_keyring():
    """What pam_keyinit does at login: join a new anonymous session keyring (owned by
    the current, already dropped, uid) and link the user keyring into it.

    Without this, the child would keep *root's* session keyring and, as its possessor,
    could even read root's keys. Called in the child between fork and exec."""
    nr = _KEYCTL_NR.get(platform.machine())
    if nr is None:
        return
    KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_LINK = 1, 8
    KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
    if _libc.syscall(nr, KEYCTL_JOIN_SESSION_KEYRING, None) >= 0:
        _libc.syscall(nr, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING)


# --------------------------------------------------------------------------- UserSession

class UserSession:
    """A throwaway user with a running ``systemd --user`` manager and user bus.

    Context manager. On entry: useradd, /run/user/$uid, delegated cgroups as logind
    would create them, the manager started in user@$uid.service and waited for. On exit
    (also after exceptions or a half-finished start): everything undone, see _cleanup().

    Unit output: there is no journald, so the manager is started with
    --default-standard-output=inherit/--default-standard-error=inherit and its own
    stdout/stderr pointing at one log file. Units' stdout/stderr, and the manager's own
    messages ("Started foo.service"), all land there: read them with journal().
    A unit that sets StandardOutput=journal explicitly loses its output (systemd falls
    back to /dev/null when the journal socket is missing).

    Processes started with run()/popen() are put into user-$uid.slice/puddle-harness.scope,
    like a logind session, so cleanup can find anything they leave behind.
    """

    def __init__(self, name_prefix="pdt", env_extra=None, wait_bus=True,
                 start_timeout=20.0, stop_timeout=15.0):
        self.name_prefix = name_prefix
        self.env_extra = dict(env_extra or {})
        self.wait_bus = wait_bus
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.user = None
        self.uid = None
        self.gid = None
        self.home = None
        self.runtime_dir = None
        self.manager = None           # subprocess.Popen of systemd --user
        self.workdir = None           # root-owned dir with the log file
        self.log_path = None
        self._log_cache = None        # log contents kept after cleanup, for post-mortems
        self._created = []            # cgroup dirs we made, in creation order
        self._made_sd_booted = False
        self._popens = []

    # ---- context manager

    def __enter__(self):
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

    def _preexec(self, scope_procs):
        """Runs in the child between fork and exec, still as root.

        The move into the cgroup must happen as root before dropping privileges: on
        cgroup2 moving a process needs write access to cgroup.procs of the common
        ancestor of both cgroups (the root cgroup). That is also why we don't use
        subprocess' user=/group=: those are applied *before* preexec_fn."""
        uid, gid, user = self.uid, self.gid, self.user

        def preexec():
            pid = str(os.getpid())
            for procs in scope_procs:
                with open(procs, "w") as f:
                    f.write(pid)
            os.initgroups(user, gid)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            _fresh_session_keyring()
        return preexec

    def _spawn_kwargs(self, env, cwd, input_is_bytes=False):
        full_env = self.env()
        if env:
            full_env.update(env)
        return dict(env=full_env, cwd=cwd or self.home, start_new_session=True,
                    preexec_fn=self._preexec(self._scope_procs))

    def popen(self, argv, env=None, cwd=None, **kw):
        """Start argv as the user in the session (non-blocking). `env` is merged into
        env(). Other keyword args go to subprocess.Popen (stdin defaults to /dev/null
        so nothing reads the test's terminal)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **self._spawn_kwargs(env, cwd), **kw)
        self._popens.append(p)
        return p

    def run(self, argv, input=None, check=False, timeout=60, env=None, pass_fds=(), cwd=None):
        """Run argv as the user, capture output (text, or bytes if input is bytes)."""
        text = not isinstance(input, bytes)
        return subprocess.run(
            argv, input=input, check=check, timeout=timeout, pass_fds=pass_fds,
            capture_output=True, text=text,
            stdin=subprocess.DEVNULL if input is None else None,
            **self._spawn_kwargs(env, cwd))

    def systemctl(self, *args, check=True, timeout=60):
        r = self.run(["systemctl", "--user", "--no-pager"] + list(args), timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError("systemctl --user %s failed (%d): %s%s"
                               % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def write_file(self, relpath, content, mode=0o644):
        """Write a file under the user's home, owned by the user (creating parents)."""
        path = os.path.join(self.home, relpath)
        parent = os.path.dirname(path)
        # Create missing parents one by one so each is owned by the user, as if the
        # user had made them.
        missing = []
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

    def manager_log(self):
        """Everything the manager and its units wrote (see class doc)."""
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                return f.read()
        return self._log_cache or ""

    def journal(self, since=0):
        """Unit stdout/stderr (interleaved with the manager's own messages).

        `since` is an offset from journal_mark(), to look only at newer output. Output
        of programs that block-buffer stdout (python print without flush, C stdio to a
        file) only appears when they flush or exit."""
        return self.manager_log()[since:]

    def journal_mark(self):
        return len(self.manager_log())

    def wait_journal(self, text, timeout=10.0, since=0):
        """Wait until `text` appears in journal(since); return the journal."""
        return wait_until(lambda: text in self.journal(since) and self.journal(since),
                          timeout, what="%r in the session log" % text)

    # ---- start

    def _start(self):
        require_root()
        _need_exe(SYSTEMD)
        for tool in ("useradd", "userdel", "systemctl", "busctl"):
            _which(tool)
        self._hierarchies = cgroup_hierarchies()
        if not self._hierarchies:
            raise Skip("no cgroup hierarchy for systemd under /sys/fs/cgroup")

        self.user = "%s%s" % (self.name_prefix, secrets.token_hex(3))
        r = subprocess.run(["useradd", "-m", "-s", "/bin/bash", self.user],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.user_created = False
            raise HarnessError("useradd %s failed: %s" % (self.user, r.stderr.strip()))
        self.user_created = True
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.runtime_dir = "/run/user/%d" % self.uid

        self.workdir = tempfile.mkdtemp(prefix="puddle-harness-%s-" % self.user)
        self.log_path = os.path.join(self.workdir, "manager.log")

        # user-runtime-dir@.service's job: an empty 0700 tmpfs dir. A leftover from a
        # crashed run with a recycled uid would leak state into this one, so start clean.
        if os.path.lexists(self.runtime_dir):
            shutil.rmtree(self.runtime_dir)
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir(self.runtime_dir, 0o700)
        os.chown(self.runtime_dir, self.uid, self.gid)

        with _Lock():
            self._make_cgroups()
            self._start_manager()
        if self.wait_bus:
            self.wait_user_bus()

    def _make_cgroups(self):
        """Create what systemd (system) + logind would: user.slice/user-$uid.slice with
        user@$uid.service delegated (chowned) to the user, and a session scope."""
        self._manager_procs = []
        self._scope_procs = []
        self._slices = []
        for h in self._hierarchies:
            user_slice = os.path.join(h, "user.slice")
            slice_dir = os.path.join(user_slice, "user-%d.slice" % self.uid)
            if not os.path.isdir(user_slice):
                os.mkdir(user_slice)
                self._created.append(user_slice)
            if os.path.isdir(slice_dir):
                # Left over from a crashed run with the same (recycled) uid.
                if _cgroup_procs(slice_dir):
                    raise HarnessError("%s exists and has processes" % slice_dir)
                _rmdir_tree(slice_dir)
            os.mkdir(slice_dir)
            self._created.append(slice_dir)
            self._slices.append(slice_dir)
            service = os.path.join(slice_dir, "user@%d.service" % self.uid)
            scope = os.path.join(slice_dir, "puddle-harness.scope")
            os.mkdir(service)
            self._created.append(service)
            os.mkdir(scope)
            self._created.append(scope)
            # Delegation = ownership of the dir and its control files (cgroup.procs,
            # cgroup.subtree_control, cgroup.threads), so the manager can create and
            # populate sub-cgroups itself.
            for dirpath, _dirs, files in os.walk(service):
                os.chown(dirpath, self.uid, self.gid)
                for name in files:
                    os.chown(os.path.join(dirpath, name), self.uid, self.gid)
            self._manager_procs.append(os.path.join(service, "cgroup.procs"))
            self._scope_procs.append(os.path.join(scope, "cgroup.procs"))

    def _start_manager(self):
        # systemd --user refuses to run unless sd_booted(), i.e. this dir exists. It only
        # checks at startup, and the dir makes other tools (dpkg maintainer scripts...)
        # believe systemd is PID 1, so it exists only until the manager answers; we hold
        # the lock meanwhile so parallel harnesses don't remove it under each other.
        if not os.path.isdir(SD_BOOTED_DIR):
            os.makedirs(SD_BOOTED_DIR)
            self._made_sd_booted = True
        try:
            env = self.env()
            log = open(self.log_path, "ab")
            try:
                self.manager = subprocess.Popen(
                    [SYSTEMD, "--user",
                     # No journald: log to stderr, and give units the manager's
                     # stdout/stderr (see class doc).
                     "--log-target=console",
                     "--default-standard-output=inherit",
                     "--default-standard-error=inherit"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                    cwd=self.home, start_new_session=True,
                    preexec_fn=self._preexec(self._manager_procs))
            finally:
                log.close()

            def answers():
                if self.manager.poll() is not None:
                    raise HarnessError("systemd --user exited with %s:\n%s"
                                       % (self.manager.returncode, self._log_tail()))
                r = self.run(["systemctl", "--user", "show", "-p", "Version", "--value"],
                             timeout=10)
                return r.returncode == 0 and r.stdout.strip()
            try:
                self.version = wait_until(answers, self.start_timeout, 0.1,
                                          what="systemd --user to answer")
            except TimeoutError as e:
                raise HarnessError("%s\n%s" % (e, self._log_tail()))
        finally:
            if self._made_sd_booted:
                try:
                    os.rmdir(SD_BOOTED_DIR)
                except OSError:
                    pass
                self._made_sd_booted = False

    def wait_user_bus(self, timeout=15.0):
        """Wait until the manager is reachable on the user bus (this also starts the
        socket-activated dbus.service, as the first real client on a login would)."""
        def ready():
            r = self.run(["busctl", "--user", "call", "org.freedesktop.DBus",
                          "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "NameHasOwner", "s", "org.freedesktop.systemd1"], timeout=10)
            return r.returncode == 0 and "true" in r.stdout
        try:
            wait_until(ready, timeout, 0.1, what="org.freedesktop.systemd1 on the user bus")
        except TimeoutError as e:
            raise HarnessError("%s\n%s" % (e, self._log_tail()))

    def _log_tail(self, n=40):
        return "--- manager log (last %d lines) ---\n%s" % (
            n, "\n".join(self.manager_log().splitlines()[-n:]))

    # ---- cleanup

    def _cleanup(self):
        """Undo everything; each step is guarded so one failure doesn't skip the rest."""
        errors = []

        def step(fn, *args):
            try:
                fn(*args)
            except Exception as e:  # keep going, report at the end
                errors.append("%s: %r" % (getattr(fn, "__name__", fn), e))

        step(self._stop_manager)
        step(self._kill_leftovers)
        step(self._remove_cgroups)
        if self.runtime_dir:
            step(shutil.rmtree, self.runtime_dir, True)
        if getattr(self, "user_created", False):
            step(self._userdel)
        if self.workdir:
            self._log_cache = self.manager_log()
            if os.environ.get("PUDDLE_HARNESS_KEEP_LOGS"):
                sys.stderr.write("puddle_harness: logs kept in %s\n" % self.workdir)
            else:
                step(shutil.rmtree, self.workdir, True)
            self.log_path = None
        if errors:
            # Don't mask the exception of the test body; __exit__ returns False anyway.
            sys.stderr.write("puddle_harness: cleanup problems: %s\n" % "; ".join(errors))

    def _stop_manager(self):
        if self.manager is None or self.manager.poll() is not None:
            return
        # SIGTERM makes systemd --user start exit.target, i.e. stop all units cleanly.
        self.manager.send_signal(signal.SIGTERM)
        try:
            self.manager.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.manager.kill()
            self.manager.wait(5)

    def _kill_leftovers(self):
        if self.uid is None:
            return
        for p in self._popens:
            if p.poll() is None:
                p.kill()

        def ours():
            # Processes in our cgroups (whatever uid: setuid helpers count too) plus any
            # process of the throwaway uid (e.g. one that escaped via a double fork into
            # a cgroup we don't own, which can't happen here but costs nothing to check).
            pids = set(_pids_of_uid(self.uid))
            for d in getattr(self, "_slices", []):
                pids |= _cgroup_procs(d)
            return {p for p in pids if p != os.getpid() and _pid_alive(p)}

        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in ours():
                _kill(pid, sig)
            if wait_until(lambda: not ours(), 3 if sig == signal.SIGTERM else 10, 0.05):
                break
        for p in self._popens:
            try:
                p.wait(1)  # reap our direct children so they don't linger as zombies
            except subprocess.TimeoutExpired:
                pass
        left = ours()
        if left:
            raise HarnessError("processes survived SIGKILL: %s" % sorted(left))

    def _remove_cgroups(self):
        with _Lock():
            for d in reversed(self._created):
                if not os.path.isdir(d):
                    continue
                # A cgroup stays busy for a moment after its last process died (the
                # zombie has to be reaped first), hence the retries.
                def gone():
                    try:
                        _rmdir_tree(d)
                    except OSError as e:
                        if e.errno in (errno.EBUSY, errno.ENOTEMPTY) and d.endswith("/user.slice"):
                            return True  # shared with a parallel harness; theirs to remove
                        if e.errno != errno.EBUSY:
                            raise
                        return False
                    return True
                if not wait_until(gone, 5, 0.05):
                    raise HarnessError("could not remove cgroup %s" % d)
            self._created = []

    def _userdel(self):
        r = subprocess.run(["userdel", "-r", self.user], capture_output=True, text=True)
        # 12 = "can't remove home directory"/mail spool warnings; the user is gone then.
        if r.returncode not in (0, 12) or _user_exists(self.user):
            raise HarnessError("userdel -r %s failed: %s" % (self.user, r.stderr.strip()))
        if os.path.exists(self.home):
            shutil.rmtree(self.home, ignore_errors=True)
        self.user_created = False


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


class SystemBus:
    """The system dbus-daemon and polkitd.

    Reuses a system bus that is already served (and then never stops it); starts
    polkitd unless org.freedesktop.PolicyKit1 already has an owner. Only stops what it
    started, by PID, and removes rules/action files it installed."""

    def __init__(self, polkit=True, timeout=20.0):
        self.want_polkit = polkit
        self.timeout = timeout
        self.dbus_pid = None          # set only if we started the daemon
        self.polkit = None            # Popen, only if we started polkitd
        self.workdir = None
        self._rules = []
        self._actions = []            # (dest, backup-or-None)
        self._made_run_dbus = False

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self._cleanup()
        return False

    def env(self):
        return {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + SYSTEM_BUS_SOCKET}

    def _start(self):
        require_root()
        dbus_daemon = _which("dbus-daemon")
        _which("busctl")
        if self.want_polkit:
            _need_exe(POLKITD)
        self.workdir = tempfile.mkdtemp(prefix="puddle-harness-sysbus-")
        if not _socket_answers(SYSTEM_BUS_SOCKET):
            if not os.path.isdir("/run/dbus"):
                os.makedirs("/run/dbus")
                self._made_run_dbus = True
            self._remove_stale_pidfile()
            # --fork returns once the bus is listening; --print-pid tells us whom to kill.
            r = subprocess.run([dbus_daemon, "--system", "--fork", "--print-pid"],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0 or not r.stdout.strip().isdigit():
                raise HarnessError("dbus-daemon --system failed (%d): %s %s"
                                   % (r.returncode, r.stdout, r.stderr))
            self.dbus_pid = int(r.stdout.strip())
            wait_until(lambda: _socket_answers(SYSTEM_BUS_SOCKET), self.timeout,
                       what="the system bus socket")
        if self.want_polkit and not self.polkit_running():
            self.start_polkit()

    def _remove_stale_pidfile(self):
        # dbus-daemon refuses to start while its pidfile exists; a stale one is left by
        # a daemon that was SIGKILLed.
        try:
            with open(SYSTEM_BUS_PIDFILE) as f:
                pid = int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return
        if not pid or not _pid_alive(pid):
            os.unlink(SYSTEM_BUS_PIDFILE)

    def name_has_owner(self, name):
        r = subprocess.run(["busctl", "--system", "call", "org.freedesktop.DBus",
                            "/org/freedesktop/DBus", "org.freedesktop.DBus",
                            "NameHasOwner", "s", name],
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        return r.returncode == 0 and "true" in r.stdout

    def polkit_running(self):
        return self.name_has_owner("org.freedesktop.PolicyKit1")

    def start_polkit(self):
        if self.polkit is not None and self.polkit.poll() is None:
            return
        if self.polkit_running():
            raise HarnessError("a polkitd not started by this harness is running")
        log = open(os.path.join(self.workdir, "polkitd.log"), "ab")
        try:
            self.polkit = subprocess.Popen([POLKITD, "--no-debug"], stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()

        def up():
            if self.polkit.poll() is not None:
                raise HarnessError("polkitd exited with %s: %s"
                                   % (self.polkit.returncode, self.polkit_log()))
            return self.polkit_running()
        try:
            wait_until(up, self.timeout, 0.1, what="org.freedesktop.PolicyKit1")
        except TimeoutError as e:
            raise HarnessError("%s: %s" % (e, self.polkit_log()))

    def stop_polkit(self):
        if self.polkit is None:
            if self.polkit_running():
                raise HarnessError("polkitd was not started by this harness; not stopping it")
            return
        if self.polkit.poll() is None:
            self.polkit.terminate()
            try:
                self.polkit.wait(10)
            except subprocess.TimeoutExpired:
                self.polkit.kill()
                self.polkit.wait(5)
        self.polkit = None
        # The bus drops the name when the connection closes; wait so a following
        # start_polkit() or "polkit is down" test sees a consistent state.
        wait_until(lambda: not self.polkit_running(), 10, 0.05,
                   what="org.freedesktop.PolicyKit1 to disappear")

    def polkit_log(self):
        try:
            with open(os.path.join(self.workdir, "polkitd.log"), errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def pkcheck(self, action_id, pid, details=None):
        """Ask polkit whether process `pid` may do `action_id` (no interaction).
        Returns the CompletedProcess: returncode 0 = authorized, 1 = not authorized,
        2 = would need authentication (challenge)."""
        argv = ["pkcheck", "--action-id", action_id, "--process", str(pid)]
        for k, v in (details or {}).items():
            argv += ["--detail", k, v]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)

    def add_rule(self, name, js_text):
        """Install /etc/polkit-1/rules.d/NAME.rules (polkitd picks it up by itself,
        after a short delay: wait for the effect, e.g. with wait_until + pkcheck)."""
        if "/" in name or name.startswith("."):
            raise ValueError("bad rule name %r" % name)
        path = os.path.join(POLKIT_RULES_DIR, name + ".rules")
        with open(path + ".tmp", "w") as f:
            f.write(js_text)
        os.chmod(path + ".tmp", 0o644)
        os.rename(path + ".tmp", path)  # polkitd must never see a half-written rule
        if path not in self._rules:
            self._rules.append(path)
        return path

    def remove_rule(self, name):
        path = os.path.join(POLKIT_RULES_DIR, name + ".rules")
        if path in self._rules:
            os.unlink(path)
            self._rules.remove(path)

    def install_action_file(self, path):
        """Copy a .policy file into /usr/share/polkit-1/actions (the only directory
        polkitd reads). An existing file of that name is restored on exit."""
        dest = os.path.join(POLKIT_ACTIONS_DIR, os.path.basename(path))
        if not any(d == dest for d, _ in self._actions):
            backup = None
            if os.path.exists(dest):
                backup = os.path.join(self.workdir, os.path.basename(dest) + ".orig")
                shutil.copy2(dest, backup)
            self._actions.append((dest, backup))
        shutil.copyfile(path, dest + ".tmp")
        os.chmod(dest + ".tmp", 0o644)
        os.rename(dest + ".tmp", dest)
        return dest

    def _cleanup(self):
        errors = []
        for path in self._rules:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                errors.append(repr(e))
        self._rules = []
        for dest, backup in reversed(self._actions):
            try:
                if backup:
                    shutil.copyfile(backup, dest)
                else:
                    os.unlink(dest)
            except OSError as e:
                errors.append(repr(e))
        self._actions = []
        if self.polkit is not None:
            try:
                self.stop_polkit()
            except Exception as e:
                errors.append(repr(e))
        if self.dbus_pid is not None:
            _kill(self.dbus_pid, signal.SIGTERM)
            if not wait_until(lambda: not _pid_alive(self.dbus_pid), 10, 0.05):
                _kill(self.dbus_pid, signal.SIGKILL)
                wait_until(lambda: not _pid_alive(self.dbus_pid), 5, 0.05)
            # A SIGTERMed dbus-daemon leaves its pidfile and socket behind; both would
            # make the next start fail or look like a live bus.
            for p in (SYSTEM_BUS_PIDFILE, SYSTEM_BUS_SOCKET):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
            self.dbus_pid = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            sys.stderr.write("puddle_harness: SystemBus cleanup problems: %s\n" % "; ".join(errors))

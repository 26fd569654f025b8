"""UserSession and SystemBus on a real booted systemd (PID 1, logind, journald,
the system bus, polkitd): what the integration suites use when they run inside
the containers of tests/boot (PUDDLE_BOOTED=debian12|debian13, set by
tests/boot/run_inside.py). Same interface as puddle_harness's own classes,
which recreate those pieces around a lone `systemd --user`.

A session is a real PAM login: a held login session on seat0
(`systemd-run -p PAMName=login`, pam_systemd -> logind -> user@UID.service),
and every process run() or popen() starts is moved into that session's scope
cgroup before it drops to the user, so logind and polkit see it as part of the
session (Active, seat0, local), as a program the user started from that login.
The journal is the real one.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import puddle_harness as ph

# Keyrings are per uid across the whole kernel (shared with the host and every
# other container): booted sessions take uids from a range of their own.
_UID_BASE = {"debian12": 46000, "debian13": 47000}


def _run(argv, timeout=60, check=False):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise ph.HarnessError("%s failed (%d): %s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def _free_uid():
    base = _UID_BASE.get(os.environ.get("PUDDLE_BOOTED", ""), 48000)
    for uid in range(base, base + 900):
        if _run(["getent", "passwd", str(uid)]).returncode != 0:
            return uid
    raise ph.HarnessError("no free uid from %d" % base)


def _cgroup_procs_of(pid):
    """The cgroup.procs files of every hierarchy PID is in, inside this
    container's cgroup namespace (unified and, on a hybrid host, name=systemd)."""
    out = []
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == "":
                mount = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
            elif controllers == "name=systemd":
                mount = "/sys/fs/cgroup/systemd"
            else:
                continue
            procs = os.path.join(mount, path.lstrip("/"), "cgroup.procs")
            if os.path.exists(procs):
                out.append(procs)
    return out


class BootedUserSession(ph.UserSession):
    """A throwaway user logged in through PAM on the booted system."""

    def _start(self):
        ph.require_root()
        if not os.path.exists("/run/systemd/system"):
            raise ph.HarnessError("PUDDLE_BOOTED is set but systemd is not PID 1 here")
        uid = _free_uid()
        self.user = "%s%s" % (self.name_prefix, secrets.token_hex(3))
        _run(["useradd", "-m", "-u", str(uid), "-s", "/bin/bash", self.user], check=True)
        self._user_created = True
        import pwd
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.runtime_dir = "/run/user/%d" % self.uid
        self.workdir = tempfile.mkdtemp(prefix="puddle-booted-%s-" % self.user)
        r = _run(["journalctl", "-n", "0", "--show-cursor", "-q"])
        self._cursor = r.stdout.strip().split("cursor: ", 1)[-1] if "cursor: " in r.stdout else None
        self._since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
        self._holder = "puddle-test-login-%s" % self.user
        _run(["systemd-run", "--unit", self._holder, "--collect", "-p", "PAMName=login", "-p", "User=" + self.user,
              "-p", "Environment=XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user",
              "sleep", "infinity"], check=True)

        def logged_in():
            pid = _run(["systemctl", "show", "-p", "MainPID", "--value", self._holder]).stdout.strip()
            mgr = _run(["systemctl", "is-active", "user@%d.service" % self.uid]).stdout.strip()
            if pid and pid != "0" and mgr == "active" and "session-" in ph._read("/proc/%s/cgroup" % pid):
                return int(pid)
            return None
        try:
            holder = ph.wait_until(logged_in, self.start_timeout, 0.05, what="the PAM login of " + self.user)
        except TimeoutError as e:
            raise ph.HarnessError("%s\n%s" % (e, _run(["systemctl", "status", self._holder, "user@%d" % self.uid]).stdout))
        self._scope_procs = _cgroup_procs_of(holder)
        self._slices = [os.path.dirname(p) for p in self._scope_procs]
        if not self._scope_procs:
            raise ph.HarnessError("the login session of %s has no cgroup to join" % self.user)
        if self.wait_bus:
            self.wait_user_bus()

    def env(self):
        env = super().env()
        env["XDG_SEAT"] = "seat0"
        env["XDG_SESSION_TYPE"] = "tty"
        env["XDG_SESSION_CLASS"] = "user"
        return env

    # ---- the real journal, in the stand-in's format:
    #      HH:MM:SS.mmm UNIT IDENTIFIER[PID]: MESSAGE
    def _file(self, name):
        if name != "journal.log":
            return ""
        if name in self._cache:
            return self._cache[name]
        return self._journal_text()

    def _journal_text(self, last=None):
        if self.uid is None:
            return ""
        argv = ["journalctl", "--no-pager", "-o", "json", "_SYSTEMD_OWNER_UID=%d" % self.uid]
        if last:
            argv += ["-n", str(last)]
        argv += ["--after-cursor", self._cursor] if self._cursor else ["--since", self._since]
        r = _run(argv, timeout=60)
        lines = []
        for raw in r.stdout.splitlines():
            try:
                e = json.loads(raw)
            except ValueError:
                continue
            msg = e.get("MESSAGE", "")
            if isinstance(msg, list):
                msg = bytes(msg).decode(errors="replace")
            if msg is None:
                continue
            ts = int(e.get("__REALTIME_TIMESTAMP", "0"))
            stamp = time.strftime("%H:%M:%S", time.localtime(ts / 1e6)) + ".%03d" % (ts // 1000 % 1000)
            unit = e.get("USER_UNIT") or e.get("_SYSTEMD_USER_UNIT") or "-"
            ident = e.get("SYSLOG_IDENTIFIER") or e.get("_COMM") or "?"
            for part in str(msg).splitlines() or [""]:
                lines.append("%s %s %s[%s]: %s\n" % (stamp, unit, ident, e.get("_PID", "?"), part))
        return "".join(lines)

    def manager_log(self):
        return "".join(l for l in self.journal().splitlines(True) if " systemd[" in l)

    def _log_tail(self, n=40):
        lines = self.journal().splitlines()[-n:]
        return "--- session journal (last %d lines) ---\n%s" % (n, "\n".join(lines))

    # ---- cleanup
    def _cleanup(self):
        errors = []
        step = ph._stepper(errors)
        if self.uid is not None:
            # The last entries are what a failure's log needs; a load test's
            # hundreds of thousands of usage records would take minutes here.
            self._cache["journal.log"] = self._journal_text(last=20000)
            for p in self._popens:
                if p.poll() is None:
                    p.kill()
            if self._user_created:
                step(self._clear_keyrings)
            # Logging out: the held session ends, logind stops user@UID.service.
            step(_run, ["systemctl", "stop", self._holder])
            step(_run, ["loginctl", "terminate-user", str(self.uid)])
            step(self._kill_leftovers)
            step(self._wait_logged_out)
        if self._user_created:
            step(self._userdel)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            sys.stderr.write("booted_session: cleanup problems: %s\n" % "; ".join(errors))
        self.cleanup_errors = errors
        ph._sigterm_guard(-1)

    def _wait_logged_out(self):
        def gone():
            return _run(["systemctl", "is-active", "user@%d.service" % self.uid]).stdout.strip() != "active"
        if not ph.wait_until(gone, 20, 0.1):
            raise ph.HarnessError("user@%d.service is still active after logout" % self.uid)

    @classmethod
    def _reap_stale(cls):
        return  # the container is thrown away after each suite


class BootedSystemBus(ph.SystemBus):
    """The booted system's own bus and polkitd (polkit.service)."""

    def _start(self):
        ph.require_root()
        self.workdir = tempfile.mkdtemp(prefix="puddle-booted-sysbus-")
        if not ph._socket_answers(ph.SYSTEM_BUS_SOCKET):
            raise ph.HarnessError("the booted system has no system bus")
        if self.want_polkit:
            self.start_polkit()

    def _record(self):
        pass  # nothing shared with other harness processes here

    def polkit_log(self):
        return _run(["journalctl", "--no-pager", "-o", "cat", "-u", "polkit.service"]).stdout

    def start_polkit(self):
        self._block_polkit_activation(False)
        _run(["systemctl", "start", "polkit.service"], check=True)
        ph.wait_until(self.polkit_running, self.timeout, 0.05, what="org.freedesktop.PolicyKit1")
        # Owning the name is not yet answering: wait for a first decision
        # (any), so a test right after a restart does not race polkitd's start.
        ph.wait_until(lambda: self.pkcheck("org.puddle.sign", os.getpid()).returncode in (0, 1, 2, 3),
                      self.timeout, 0.1, what="polkitd to answer")

    def stop_polkit(self, block_activation=True):
        if block_activation:
            self._block_polkit_activation(True)
        _run(["systemctl", "stop", "polkit.service"], check=True)
        ph.wait_until(lambda: not self.polkit_running(), 10, 0.05, what="org.freedesktop.PolicyKit1 to disappear")

    def _cleanup(self):
        errors = []
        for path in list(self._rules):
            try:
                os.unlink(path)
            except OSError as e:
                errors.append(str(e))
        self._rules = []
        for dest, backup in self._actions:
            try:
                if backup:
                    shutil.copy2(backup, dest)
            except OSError as e:
                errors.append(str(e))
        self._actions = []
        try:
            if self._blocked:
                self._block_polkit_activation(False)
            if not self.polkit_running():
                _run(["systemctl", "start", "polkit.service"])
        except Exception as e:
            errors.append(str(e))
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.cleanup_errors = errors
        if errors:
            sys.stderr.write("booted_session: system bus cleanup problems: %s\n" % "; ".join(errors))
        ph._sigterm_guard(-1)

#!/usr/bin/python3
"""Self-test of puddle_harness: proves each piece works for real on this machine.

Exit status: 0 all good, 77 skipped (prints "SKIP: reason"), 1 failure.

    sudo /usr/bin/python3 tests/harness/selftest.py [--fail-at STEP]

--fail-at STEP raises a deliberate error after STEP (start, basics, socket, dbus,
keyring, polkit) to prove that cleanup still leaves nothing behind; the run then exits 1
with "cleanup verified" if it did. "start" breaks the manager start itself (cleanup after
a half-finished __enter__).
"""

import argparse
import os
import pwd
import socket
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import puddle_harness as ph  # noqa: E402
from puddle_harness import HarnessError, Skip, SystemBus, UserSession, wait_until  # noqa: E402

STEPS = ("start", "basics", "socket", "dbus", "keyring", "polkit")
SD_BOOTED_BEFORE = os.path.exists("/run/systemd/system")


class Deliberate(Exception):
    pass


def say(msg=""):
    print(msg, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    say("  ok: " + what)


# --------------------------------------------------------------------------- 1

def test_basics(s):
    say("[1] user manager and user bus")
    r = s.run(["systemctl", "--user", "show", "-p", "Version", "--value"])
    check(r.returncode == 0 and r.stdout.strip(), "systemctl --user show -p Version: %s" % r.stdout.strip())
    check(os.path.exists(os.path.join(s.runtime_dir, "bus")), "user bus socket at $XDG_RUNTIME_DIR/bus")
    r = s.run(["busctl", "--user", "list", "--no-pager"])
    check(r.returncode == 0 and "org.freedesktop.systemd1" in r.stdout,
          "busctl --user list shows org.freedesktop.systemd1")
    r = s.run(["id", "-un"])
    check(r.stdout.strip() == s.user, "run() runs as the user (%s)" % s.user)
    if not SD_BOOTED_BEFORE:
        check(not os.path.exists("/run/systemd/system"), "no machine-wide /run/systemd/system")
    r = s.run(["systemctl", "--user", "is-system-running"])
    check(r.stdout.strip() == "running", "inside the session the system looks booted (is-system-running=running)")


# --------------------------------------------------------------------------- 2

SOCKET_SERVER = r"""
import os, socket, sys
# Socket activation: systemd passes the listening socket as fd 3 (LISTEN_FDS=1).
assert os.environ.get("LISTEN_FDS") == "1", os.environ.get("LISTEN_FDS")
srv = socket.socket(fileno=3)
print("harness-stderr-marker: serving for pid", os.getpid(), file=sys.stderr, flush=True)
while True:
    conn, _ = srv.accept()
    conn.sendall(b"hello\n")
    conn.close()
"""


def test_socket_activation(s):
    say("[2] socket activation and unit output")
    s.write_file("hs.py", SOCKET_SERVER)
    s.write_file(".config/systemd/user/hs.socket",
                 "[Socket]\nListenStream=%t/hs.sock\nAccept=no\n")
    s.write_file(".config/systemd/user/hs.service",
                 "[Service]\nExecStart=/usr/bin/python3 %h/hs.py\n")
    s.systemctl("daemon-reload")
    s.systemctl("start", "hs.socket")
    path = os.path.join(s.runtime_dir, "hs.sock")
    check(os.path.exists(path), "hs.socket listens at %s" % path)
    r = s.systemctl("is-active", "hs.service", check=False)
    check(r.stdout.strip() != "active", "hs.service not running before the first connection")

    # Connect as root from the test process...
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    data = c.makefile("rb").readline()
    c.close()
    check(data == b"hello\n", "root connection read %r" % data)
    # ... and as the user, through socat.
    r = s.run(["socat", "-", "UNIX-CONNECT:" + path], timeout=15)
    check(r.stdout == "hello\n", "user connection (socat) read %r" % r.stdout)
    r = s.systemctl("is-active", "hs.service", check=False)
    check(r.stdout.strip() == "active", "hs.service was activated by the connection")
    log = s.wait_journal("harness-stderr-marker", unit="hs.service")
    line = [l for l in log.splitlines() if "harness-stderr-marker" in l][0]
    check(True, "unit stderr is in journal(): %s" % line)
    s.systemctl("stop", "hs.socket", "hs.service")


# --------------------------------------------------------------------------- 3

DBUS_SERVER = r"""
import dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SessionBus()

class Test(dbus.service.Object):
    @dbus.service.method("org.example.HarnessTest", in_signature="s", out_signature="s")
    def Echo(self, text):
        return "echo:" + text

obj = Test(bus, "/org/example/HarnessTest")
# Claim the name only once the object is exported, so the activating call finds it.
name = dbus.service.BusName("org.example.HarnessTest", bus)
print("harness dbus service up", flush=True)
GLib.MainLoop().run()
"""


def test_dbus_activation(s):
    say("[3] D-Bus activation through systemd")
    s.write_file("harness_dbus.py", DBUS_SERVER)
    s.write_file(".local/share/dbus-1/services/org.example.HarnessTest.service",
                 "[D-BUS Service]\nName=org.example.HarnessTest\nExec=/bin/false\n"
                 "SystemdService=harness-test.service\n")
    s.write_file(".config/systemd/user/harness-test.service",
                 "[Service]\nType=dbus\nBusName=org.example.HarnessTest\n"
                 "ExecStart=/usr/bin/python3 %h/harness_dbus.py\n")
    s.systemctl("daemon-reload")
    # dbus-daemon watches its service dirs with inotify, but a ReloadConfig makes the new
    # file known synchronously (a directory that didn't exist at startup isn't watched).
    s.run(["busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
           "org.freedesktop.DBus", "ReloadConfig"], check=True)
    r = s.systemctl("is-active", "harness-test.service", check=False)
    check(r.stdout.strip() != "active", "harness-test.service not running before the call")
    r = s.run(["busctl", "--user", "call", "org.example.HarnessTest", "/org/example/HarnessTest",
               "org.example.HarnessTest", "Echo", "s", "hi"], timeout=30)
    check(r.returncode == 0 and r.stdout.strip() == 's "echo:hi"',
          "busctl --user call activated the service: %s%s" % (r.stdout.strip(), r.stderr.strip()))
    r = s.systemctl("is-active", "harness-test.service", check=False)
    check(r.stdout.strip() == "active", "harness-test.service is active (started by systemd)")
    s.wait_journal("harness dbus service up", unit="harness-test.service")
    check(True, "its output is in journal(unit='harness-test.service')")
    r = s.run(["gdbus", "call", "--session", "--dest", "org.example.HarnessTest",
               "--object-path", "/org/example/HarnessTest",
               "--method", "org.example.HarnessTest.Echo", "gdbus"])
    check(r.returncode == 0 and "echo:gdbus" in r.stdout, "gdbus call works too: %s" % r.stdout.strip())
    s.systemctl("stop", "harness-test.service")


# --------------------------------------------------------------------------- 4

KEYRING_SCRIPT = r"""#!/bin/sh
# $1: show | add | look
echo "== KeyringMode=$KM $1"
echo "-- keyctl show @s"; keyctl show @s 2>&1
echo "-- keyctl show @u"; keyctl show @u 2>&1
case "$1" in
  add)  keyctl add user harness-ukey-$KM u @u >/dev/null
        keyctl add user harness-skey-$KM s @s >/dev/null ;;
  look) echo "u-key: $(keyctl search @u user harness-ukey-$KM 2>/dev/null || echo missing)"
        echo "s-key: $(keyctl search @s user harness-skey-$KM 2>/dev/null || echo missing)" ;;
esac
"""


def test_keyrings(s):
    say("[4] kernel keyrings of user services")
    s.write_file("keyring.sh", KEYRING_SCRIPT, 0o755)
    for mode in ("inherit", "private", "shared"):
        s.write_file(".config/systemd/user/kr-%s@.service" % mode,
                     "[Service]\nType=oneshot\nKeyringMode=%s\nEnvironment=KM=%s\n"
                     "ExecStart=%%h/keyring.sh %%i\n" % (mode, mode))
    s.write_file(".config/systemd/user/kr-default@.service",
                 "[Service]\nType=oneshot\nEnvironment=KM=default\nExecStart=%h/keyring.sh %i\n")
    s.systemctl("daemon-reload")
    r = s.systemctl("show", "-p", "KeyringMode", "--value", "kr-default@x.service")
    check(r.stdout.strip() == "inherit", "default KeyringMode of a user service: %s" % r.stdout.strip())

    found = {}
    for mode in ("inherit", "private", "shared"):
        mark = s.journal_mark()
        unit_look = "kr-%s@look.service" % mode
        s.systemctl("start", "kr-%s@show.service" % mode)
        s.systemctl("start", "kr-%s@add.service" % mode)
        s.systemctl("start", unit_look)  # a new invocation = a service restart
        # Unit output reaches the journal asynchronously: systemctl may return first.
        s.wait_journal("s-key: ", unit=unit_look, since=mark)
        log = s.journal(since=mark)
        say("  --- KeyringMode=%s (first invocation):" % mode)
        for l in s.journal(unit="kr-%s@show.service" % mode, since=mark).splitlines():
            if "]: " in l and "systemd[" not in l:
                say("    " + l.split("]: ", 1)[1])
        look = [l.split("]: ", 1)[1] for l in s.journal(unit=unit_look, since=mark).splitlines()
                if "-key: " in l]
        found[mode] = look
        say("    after restart: " + ", ".join(look))
        check("u-key: missing" not in log, "KeyringMode=%s: @u key survives a service restart" % mode)

    check("s-key: missing" not in " ".join(found["inherit"]),
          "KeyringMode=inherit: @s key survives a restart (services share the manager's session keyring)")
    check("s-key: missing" in " ".join(found["private"]),
          "KeyringMode=private: @s is new per invocation")
    check("s-key: missing" in " ".join(found["shared"]),
          "KeyringMode=shared: @s is new per invocation (with @u linked in)")

    r = s.run(["sh", "-c", "keyctl show @s; echo u-key: $(keyctl search @u user harness-ukey-inherit)"])
    say("  --- a run() process (like a login with pam_keyinit):")
    for l in r.stdout.splitlines():
        say("    " + l)
    check(r.stdout.rsplit("u-key: ", 1)[-1].strip().isdigit(),
          "run() processes share @u with the services")


# --------------------------------------------------------------------------- 5

POLICY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<policyconfig>
  <action id="%s">
    <description>puddle harness selftest</description>
    <message>puddle harness selftest</message>
    <defaults><allow_any>yes</allow_any><allow_inactive>yes</allow_inactive><allow_active>yes</allow_active></defaults>
  </action>
</policyconfig>
"""
bus_info_actions = []  # action files installed, checked for removal after the run


def test_polkit(bus, s):
    say("[5] system bus and polkit")
    action = "org.freedesktop.hostname1.set-hostname"
    p = s.popen(["sleep", "300"])
    r = bus.pkcheck(action, p.pid)
    say("  pkcheck for a process of %s: exit %d, %s"
        % (s.user, r.returncode, (r.stdout + r.stderr).strip().replace("\n", " | ")))
    check(r.returncode in (1, 2), "polkit answers (not authorized / challenge) for the test user")
    rule = ('polkit.addRule(function(action, subject) {\n'
            '  if (action.id == "%s" && subject.user == "%s") return polkit.Result.YES;\n'
            '});\n' % (action, s.user))
    rule_name = "50-puddle-harness-selftest-" + s.user  # unique: selftests may run in parallel
    path = bus.add_rule(rule_name, rule)
    check(wait_until(lambda: bus.pkcheck(action, p.pid).returncode == 0, 10),
          "after add_rule() the user is authorized")
    bus.remove_rule(rule_name)
    check(not os.path.exists(path), "remove_rule() removed %s" % path)
    check(wait_until(lambda: bus.pkcheck(action, p.pid).returncode != 0, 10),
          "after remove_rule() the user is no longer authorized")
    bus.add_rule(rule_name, rule)  # left for __exit__ to remove

    # An action of our own (unique name: selftests may run in parallel).
    own_action = "org.puddle.harness.selftest." + s.user
    r = bus.pkcheck(own_action, p.pid)
    check(r.returncode not in (0, 1, 2), "%s unknown before install_action_file()" % own_action)
    policy = os.path.join(s.home, own_action + ".policy")
    with open(policy, "w") as f:
        f.write(POLICY % own_action)
    dest = bus.install_action_file(policy)
    bus_info_actions.append(dest)
    check(wait_until(lambda: bus.pkcheck(own_action, p.pid).returncode == 0, 10),
          "after install_action_file() polkit knows it (allow_any=yes: authorized)")
    others = [u for u in SystemBus.shared_users() if u != bus._token]
    if others:
        # Stopping polkit would break the parallel tests that share it.
        say("  skipped stop_polkit()/start_polkit(): system bus shared with %s" % ", ".join(others))
        p.kill()
        p.wait()
        return
    bus.stop_polkit()
    check(not bus.polkit_running(), "stop_polkit(): org.freedesktop.PolicyKit1 gone")
    r = bus.pkcheck(action, p.pid)
    check(r.returncode not in (0, 1, 2) and not bus.polkit_running(),
          "pkcheck fails while stopped and doesn't bus-activate polkitd (exit %d: %s)"
          % (r.returncode, r.stderr.strip()[:100]))
    bus.start_polkit()
    check(bus.polkit_running(), "start_polkit(): back")
    check(wait_until(lambda: bus.pkcheck(action, p.pid).returncode == 0, 10),
          "the rule still applies after the restart")
    p.kill()
    p.wait()


# --------------------------------------------------------------------------- 6

def verify_cleanup(info, bus_info):
    say("[6] cleanup")
    user, uid, home, rt, hierarchies, workdir, journald_pid = info
    problems = []

    def expect(cond, what):
        if cond:
            say("  ok: " + what)
        else:
            say("  FAILED: " + what)
            problems.append(what)

    try:
        pwd.getpwnam(user)
        expect(False, "user %s deleted" % user)
    except KeyError:
        expect(True, "user %s deleted" % user)
    expect(not os.path.exists(home), "home %s removed" % home)
    expect(not os.path.exists(rt), "%s removed" % rt)
    expect(not ph._pids_of_uid(uid), "no process of uid %d left" % uid)
    for h in hierarchies:
        d = os.path.join(h, "user.slice", "user-%d.slice" % uid)
        expect(not os.path.exists(d), "cgroup %s removed" % d)
    if not SD_BOOTED_BEFORE:
        expect(not os.path.exists("/run/systemd/system"), "no /run/systemd/system left")
    expect(not ph._pid_alive(journald_pid), "journal stand-in (%d) stopped" % journald_pid)
    if not os.environ.get("PUDDLE_HARNESS_KEEP_LOGS"):
        expect(not os.path.exists(workdir), "work directory %s removed" % workdir)
    # The kernel keeps a uid's user keyring after the user is gone; a new user that gets
    # the same uid would see our keys if cleanup hadn't cleared it. ("keyctl show @u"
    # prints a "Keyring" header and the keyring itself, then one line per key.)
    r = subprocess.run(["keyctl", "show", "@u"], capture_output=True, text=True,
                       user=uid, group=uid, extra_groups=[])
    keys = r.stdout.strip().splitlines()[2:]
    expect(r.returncode == 0 and not keys, "the recycled uid's @u is empty %s" % (keys or ""))
    if bus_info:
        dbus_pid, polkit_pid, rules = bus_info
        others = SystemBus.shared_users()
        if others:
            say("  (system bus and polkitd still used by other harnesses: %s)" % ", ".join(others))
            dbus_pid = polkit_pid = None
        if dbus_pid:
            expect(not ph._pid_alive(dbus_pid), "our system dbus-daemon (%d) stopped" % dbus_pid)
            expect(not os.path.exists(ph.SYSTEM_BUS_SOCKET), "system bus socket removed")
        if polkit_pid:
            expect(not ph._pid_alive(polkit_pid), "our polkitd (%d) stopped" % polkit_pid)
        for path in rules:
            expect(not os.path.exists(path), "rule %s removed" % path)
        for path in bus_info_actions:
            expect(not os.path.exists(path), "action file %s removed" % path)
        expect(os.path.exists(ph.POLKIT_SERVICE_FILE) and not os.path.exists(ph.HIDDEN_POLKIT_SERVICE_FILE),
               "polkit activation file back in place")
    return problems


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fail-at", choices=STEPS)
    args = ap.parse_args()
    t0 = time.monotonic()
    info = bus_info = None
    failed = None
    try:
        ph.require_root()
        with SystemBus() as bus:
            bus_info = [bus.dbus_pid, bus.polkit_pid, []]
            say("system bus: %s, pid %s; polkitd pid %s" % (
                "started" if bus.started_dbus else "shared", bus.dbus_pid, bus.polkit_pid))
            session = UserSession()
            if args.fail_at == "start":
                # The manager "crashes" at once: __enter__ fails after user, cgroups and
                # journal were set up.
                session._manager_argv = ["/bin/false"]
            try:
                with session as s:
                    say("user %s (uid %d), systemd %s, up after %.1fs"
                        % (s.user, s.uid, s.version, time.monotonic() - t0))
                    info = (s.user, s.uid, s.home, s.runtime_dir, list(s._hierarchies),
                            s.workdir, s.journald.pid)
                    for step, fn in (("basics", test_basics), ("socket", test_socket_activation),
                                     ("dbus", test_dbus_activation), ("keyring", test_keyrings),
                                     ("polkit", lambda s: test_polkit(bus, s))):
                        fn(s)
                        bus_info[1] = bus.polkit_pid or bus_info[1]
                        bus_info[2] = list(bus._rules)
                        if args.fail_at == step:
                            raise Deliberate("deliberate failure after step %r" % step)
            finally:
                if info is None and session.uid is not None:
                    info = (session.user, session.uid, session.home, session.runtime_dir,
                            list(getattr(session, "_hierarchies", [])), session.workdir,
                            session.journald.pid if session.journald else 0)
                bus_info[1] = bus.polkit_pid or bus_info[1]
                bus_info[2] = list(bus._rules) or bus_info[2]
    except Skip as e:
        say("SKIP: %s" % e)
        return 77
    except (Deliberate, HarnessError) as e:
        failed = e
        say("FAILED: %s" % e if not isinstance(e, Deliberate) else "raised: %s" % e)
    except Exception:
        failed = sys.exc_info()[1]
        traceback.print_exc()

    problems = verify_cleanup(info, bus_info) if info else []
    say("runtime: %.1fs" % (time.monotonic() - t0))
    if problems:
        say("FAIL: cleanup left: %s" % "; ".join(problems))
        return 1
    if failed is not None:
        say("FAIL (cleanup verified): %s" % failed)
        return 1
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The installed Debian package, as a new user gets it (issue 8's acceptance):
after `apt-get install ./puddle_<version>_<arch>.deb`, a user who never ran
`systemctl --user enable` gets a working puddle as soon as their user manager
starts: the package enabled puddle-agent.socket for all users, so init,
unlock, sign, verify and lock work with no other step.

A throwaway user with a real systemd --user manager (tests/harness). Skips
(exit 77) unless the puddle package is installed (dpkg), or without root.
Run by hand: sudo /usr/bin/python3 tests/packaging/test_installed.py"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from puddle_harness import HarnessError, Skip, SystemBus, UserSession  # noqa: E402

PASSPHRASE = "installed package passphrase"
AGENT = "/usr/libexec/puddle/puddle-agent"
failures = []


def check(ok, what, detail=""):
    print(("ok " if ok else "FAIL ") + what, flush=True)
    if not ok:
        if detail:
            print("    " + detail.rstrip().replace("\n", "\n    "))
        failures.append(what)
    return ok


def installed_package():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", "puddle"], capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.startswith("install ok installed"):
        return None
    return p.stdout.split()[-1]


def package_checks():
    files = subprocess.run(["dpkg", "-L", "puddle"], capture_output=True, text=True, check=True).stdout.split("\n")
    for f in ("/usr/bin/puddle", AGENT, "/usr/lib/systemd/user/puddle-agent.socket",
              "/usr/lib/systemd/user/puddle-agent.service", "/usr/share/dbus-1/services/org.puddle.Agent1.service",
              "/usr/share/polkit-1/actions/org.puddle.policy", "/usr/share/bash-completion/completions/puddle"):
        check(f in files and os.path.exists(f), f"package installed {f}")
    wants = "/etc/systemd/user/sockets.target.wants"
    link = os.path.join(wants, "puddle-agent.socket")
    check(os.path.islink(link) and os.readlink(link) == "/usr/lib/systemd/user/puddle-agent.socket",
          f"enabled for all users: {link} -> /usr/lib/systemd/user/puddle-agent.socket")
    if os.path.exists("/usr/lib/systemd/user/puddle-agent-ssh.socket"):
        check(os.path.islink(os.path.join(wants, "puddle-agent-ssh.socket")), "puddle-agent-ssh.socket enabled for all users")
    for unit, target in (("puddle-fleet.timer", "timers.target"), ("puddle-fleet.path", "paths.target")):
        link = os.path.join("/etc/systemd/user", target + ".wants", unit)
        check(os.path.islink(link) and os.readlink(link) == "/usr/lib/systemd/user/" + unit,
              f"enabled for all users: {link} -> /usr/lib/systemd/user/{unit}")
    enabled = []
    for d, _, names in os.walk("/etc/systemd/user"):
        enabled += [os.path.join(d, n) for n in names if n.startswith("puddle-pair.")]
    check(not enabled, "the pair listener is not enabled", " ".join(enabled))


def session_checks():
    with SystemBus(), UserSession(name_prefix="pdi") as s:
        print(f"== new user {s.user} (uid {s.uid}), systemd --user {s.version}; no 'systemctl --user enable'", flush=True)
        r = s.systemctl("is-enabled", "puddle-agent.socket", check=False)
        check(r.stdout.strip() == "enabled", "puddle-agent.socket is enabled for the new user", r.stdout + r.stderr)
        r = s.systemctl("is-active", "puddle-agent.socket", check=False)
        check(r.stdout.strip() == "active", "puddle-agent.socket is listening from the manager's start", r.stdout + r.stderr)
        sock = os.path.join(s.runtime_dir, "puddle", "agent.sock")
        check(os.path.exists(sock), f"{sock} exists before any puddle command")
        if os.path.exists("/usr/lib/systemd/user/puddle-agent-ssh.socket"):
            r = s.systemctl("is-active", "puddle-agent-ssh.socket", check=False)
            check(r.stdout.strip() == "active", "puddle-agent-ssh.socket is listening from the manager's start",
                  r.stdout + r.stderr)
            ssh_sock = os.path.join(s.runtime_dir, "puddle", "ssh-agent.sock")
            check(os.path.exists(ssh_sock), f"{ssh_sock} exists")
        for unit in ("puddle-fleet.timer", "puddle-fleet.path"):
            r = s.systemctl("is-active", unit, check=False)
            check(r.stdout.strip() == "active", f"{unit} is active from the manager's start", r.stdout + r.stderr)
        r = s.systemctl("is-enabled", "puddle-pair.socket", check=False)
        check(r.stdout.strip() != "enabled", "puddle-pair.socket is not enabled", r.stdout + r.stderr)

        def step(title, argv, passphrase=None, input=None, expect=0):
            p = s.run_with_passphrases(argv, None if passphrase is None else [passphrase], input=input)
            ok = check(p.returncode == expect, f"{title}: {' '.join(argv)} (exit {p.returncode}, expected {expect})",
                       p.stdout + p.stderr)
            if not ok:
                print(s.journal(unit="puddle-agent.service"))
            return p.stdout

        step("init", ["puddle", "init", "--passphrase-fd", "FD"], passphrase=PASSPHRASE)
        key = step("pubkey", ["puddle", "pubkey"]).strip()
        step("sign while locked", ["puddle", "sign"], input="x", expect=3)
        step("unlock", ["puddle", "unlock", "--no-watch", "--idle-mins", "10", "--passphrase-fd", "FD"],
             passphrase=PASSPHRASE)
        sig = step("sign", ["puddle", "sign"], input="hello from the installed package\n").strip()
        step("verify", ["puddle", "verify", "--sig", sig, "--pub", key], input="hello from the installed package\n")
        step("verify rejects other data", ["puddle", "verify", "--sig", sig], input="tampered\n", expect=1)
        out = step("status --json", ["puddle", "status", "--json"])
        check('"unlocked":true' in out.replace(" ", ""), "status says unlocked", out)
        r = s.systemctl("show", "-p", "ExecStart", "--value", "puddle-agent.service", check=False)
        check(AGENT in r.stdout, f"the agent runs from {AGENT}", r.stdout)
        step("lock", ["puddle", "lock"])
        step("sign after lock", ["puddle", "sign"], input="x", expect=3)
        p = s.run(["bash", "-c", "source /usr/share/bash-completion/bash_completion 2>/dev/null; "
                   "_completion_loader puddle; complete -p puddle"])
        check("_puddle" in p.stdout, "bash completion loads for the user", p.stdout + p.stderr)
        p = s.run(["man", "-w", "puddle"])
        check(p.returncode == 0, "man -w puddle", p.stdout + p.stderr)


def main():
    version = installed_package()
    if version is None:
        print("SKIP: the puddle package is not installed (apt-get install ./puddle_<version>_<arch>.deb)")
        return 77
    print(f"== puddle {version} installed by dpkg", flush=True)
    try:
        if os.geteuid() != 0:
            raise Skip("needs root")
        package_checks()
        session_checks()
    except Skip as e:
        print("SKIP:", e)
        return 77
    except HarnessError as e:
        print("FAIL harness:", e)
        return 1
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    print("the installed package works for a new user with no other step")
    return 0


sys.exit(main())

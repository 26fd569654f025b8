"""The main job's end-to-end part: a throwaway user with a real systemd
--user manager uses the puddle that `meson install` put in /usr —
installed units, installed D-Bus activation file — as a person would:
init → unlock → sign → verify → lock, then a second envoy (another
network namespace, another host name) joins with a pairing code."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "harness"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
from nacl_unwrap import portable_identity  # noqa: E402
from netns import NetNs  # noqa: E402
from puddle_harness import SystemBus, UserSession  # noqa: E402

PASSPHRASE = "main job passphrase"


def main():
    with SystemBus() as sysbus, UserSession(name_prefix="pmj") as s:
        print("== polkit knows the installed actions: pkaction --action-id org.puddle.sign", flush=True)
        p = subprocess.run(["pkaction", "--action-id", "org.puddle.sign", "--verbose"], capture_output=True, text=True)
        print(p.stdout + p.stderr)
        if p.returncode != 0:
            raise SystemExit(1)
        def step(title, argv, passphrase=None, input=None, expect=0):
            print(f"== {title}: {' '.join(argv)}", flush=True)
            p = s.run_with_passphrases(argv, None if passphrase is None else [passphrase], input=input)
            sys.stdout.write(p.stdout)
            sys.stdout.write(p.stderr)
            if p.returncode != expect:
                print(f"!! exit {p.returncode}, expected {expect}")
                print(s.journal(unit="puddle-agent.service"))
                raise SystemExit(1)
            return p.stdout

        print(f"== test user {s.user} (uid {s.uid}) with systemd --user {s.version}")
        step("enable the agent socket", ["systemctl", "--user", "enable", "--now", "puddle-agent.socket"])
        step("init", ["puddle", "init", "--passphrase-fd", "FD"], passphrase=PASSPHRASE)
        step("status before unlock", ["puddle", "status"])
        step("unlock", ["puddle", "unlock", "--no-watch", "--idle-mins", "10", "--passphrase-fd", "FD"],
             passphrase=PASSPHRASE)
        sig = step("sign", ["puddle", "sign"], input="hello from the main job\n").strip()
        step("verify", ["puddle", "verify", "--sig", sig], input="hello from the main job\n")
        step("verify rejects other data", ["puddle", "verify", "--sig", sig], input="tampered\n", expect=1)
        step("status while unlocked", ["puddle", "status", "--json"])
        step("sign through the socket door", ["socat", "-", "UNIX-CONNECT:" + s.runtime_dir + "/puddle/agent.sock"],
             input="SIGN aGVsbG8=\nSTATUS\n")
        step("lock", ["puddle", "lock"])
        step("sign while locked (exit 3)", ["puddle", "sign"], input="x", expect=3)

        with NetNs(prefix="pmj") as ns:
            out = step("pair", ["puddle", "pair"])
            code = re.search(r"pairing code: (\d{4}-\d{4})", out).group(1)
            joiner = tempfile.mkdtemp(prefix="puddle-main-joiner-")
            subprocess.run(["chown", f"{s.uid}:{s.gid}", joiner], check=True)
            print(f"== a second envoy, host 'second-envoy' at {ns.peer_ip}, joins from {ns.host_ip}", flush=True)
            r, w = os.pipe()
            os.write(w, (code + "\n" + PASSPHRASE + "\n").encode())  # the code's line, then the passphrase's
            os.close(w)
            argv = ns.command(["setpriv", f"--reuid={s.uid}", f"--regid={s.gid}", "--clear-groups", "env", "-i",
                               f"HOME={joiner}", f"PUDDLE_HOME={joiner}/state", "PATH=/usr/bin:/bin",
                               "puddle", "join", "--from", ns.host_ip, "--code-fd", str(r), "--passphrase-fd", str(r)],
                              hostname="second-envoy")
            p = subprocess.run(argv, pass_fds=(r,), capture_output=True, text=True, timeout=120)
            os.close(r)
            print(p.stdout + p.stderr)
            if p.returncode != 0:
                print(s.journal(unit="puddle-pair.service"))
                raise SystemExit(1)
            # Each envoy seals the identity to its own envoy secret: compare
            # what they hold alike, the passphrase-wrapped key inside.
            if portable_identity(os.path.join(s.home, ".puddle")) != portable_identity(os.path.join(joiner, "state"), joiner):
                raise SystemExit("the two envoys hold different identities")
            print("== both envoys hold the same identity, each sealed to its own envoy secret")
            step("members on the first envoy", ["puddle", "members"])
            subprocess.run(["rm", "-rf", joiner])
            print("== pair listener log")
            print(s.journal(unit="puddle-pair.service"))
        print("== agent log")
        print(s.journal(unit="puddle-agent.service"))
    print("== main job done")


main()

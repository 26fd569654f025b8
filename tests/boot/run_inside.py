"""Runs integration suites inside one booted container:

    run_inside.py debian12|debian13 TEST_SCRIPT [TEST_SCRIPT...] [ARGS...]

(the scripts one after the other, in one boot; ARGS, such as test names, go to
each).
Boots the distro's container (booted.Machine: the project installed in /usr,
the agent sockets enabled for all users), then runs TEST_SCRIPT as root inside
it with PUDDLE_BOOTED set, so the harness logs users in through PAM on the real
logind and uses the real journal, system bus and polkitd (see
tests/harness/booted_session.py). Exits with the suite's status (77 = skipped).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import booted  # noqa: E402


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in booted.DISTROS:
        raise SystemExit(__doc__)
    distro = sys.argv[1]
    rest = sys.argv[2:]
    scripts = [os.path.abspath(a) for a in rest if a.endswith(".py")]
    args = [a for a in rest if not a.endswith(".py")]
    m = booted.Machine(distro)
    try:
        m.__enter__()
    except booted.Skip as e:
        print("SKIP: %s" % e)
        return 77
    try:
        print(m.boot_line, flush=True)
        env = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
               "PUDDLE_BOOTED=" + distro, "PUDDLE_BUILD_ROOT=" + m.builddir, "PUDDLE_SOURCE_ROOT=" + booted.SOURCE,
               "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"]
        for k in ("PUDDLE_SANITIZED", "PUDDLE_FAULT_RUNS", "PUDDLE_LOAD_SCALE", "PUDDLE_LOAD_SEED",
                  "PUDDLE_LOAD_CLIENTS", "PUDDLE_LOAD_COUNT", "PUDDLE_RECORD_CLIENTS", "PUDDLE_RECORD_COUNT",
                  "PUDDLE_HARNESS_KEEP_LOGS"):
            if k in os.environ:
                env.append("%s=%s" % (k, os.environ[k]))
        codes = []
        for script in scripts:
            print("== %s" % os.path.basename(script), flush=True)
            r = subprocess.run(m._nsenter() + ["--wd=" + os.path.dirname(script)] + env +
                               ["/usr/bin/python3", script] + args)
            codes.append(r.returncode)
        # A failure anywhere fails the run; skipped only when every one skipped.
        if any(c not in (0, 77) for c in codes):
            return 1
        return 77 if all(c == 77 for c in codes) else 0
    finally:
        m.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""puddle benchmark driver (run as root; see bench/README.md).

Creates a throwaway user with a real systemd --user manager (the test
harness), installs the freshly built puddle and puddle-agent with their real
units (tests/integration/agent_fixture.py), starts OpenSSH's ssh-agent with a
fresh ed25519 key for comparison, runs bench/puddle-bench as that user for each
measurement and prints one table. Speeds are reported, never asserted: the exit
status says only whether the benchmark could run.
"""
import argparse
import base64
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)

PASS_FILE = ".bench-passphrase"

# --cold-breakdown: drop-ins that switch off groups of the unit's settings
# (the unit has no namespace options: see puddle-agent(1), KEY CUSTODY).
_SECCOMP = ("SystemCallFilter=\nSystemCallArchitectures=\nMemoryDenyWriteExecute=no\nRestrictNamespaces=no\n"
            "LockPersonality=no\nRestrictRealtime=no\nRestrictSUIDSGID=no\nRestrictAddressFamilies=\n")
COLD_VARIANTS = [
    ("as shipped", ""),
    ("without seccomp (SystemCallFilter and friends)", _SECCOMP),
    ("without any of it (also NoNewPrivileges)", _SECCOMP + "NoNewPrivileges=no\n"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build", nargs="?", default=os.environ.get("PUDDLE_BUILD_ROOT") or os.path.join(SOURCE, "build"),
                   help="meson build directory (default: $PUDDLE_BUILD_ROOT, else ./build)")
    p.add_argument("--rounds", type=int, help="rounds per figure (default 5)")
    p.add_argument("--seconds", type=float, help="measuring window per throughput round (default 2)")
    p.add_argument("--warmup", type=float, default=0.3, help="warm-up before each window (default 0.3 s)")
    p.add_argument("--clients", default="1,4,16,64", help="client counts for socket signing (default 1,4,16,64)")
    p.add_argument("--bus-clients", default="1,4", help="client counts for D-Bus calls (default 1,4)")
    p.add_argument("--signatures", type=int,
                   help="signatures served before the last RSS reading (default 1000000)")
    p.add_argument("--cold-runs", type=int, help="cold starts per variant (default 30)")
    p.add_argument("--unlock-runs", type=int, help="unlock rounds (default: --rounds)")
    p.add_argument("--quick", action="store_true",
                   help="defaults of 3 rounds x 1 s, 10 cold starts, 200k signatures (about 1.5 minutes)")
    p.add_argument("--profile", action="store_true",
                   help="also profile the socket path: strace -c and perf (cpu-clock samples) on the agent")
    p.add_argument("--cold-breakdown", action="store_true",
                   help="also time cold starts with groups of the unit's sandboxing switched off by drop-ins")
    p.add_argument("--polkit", choices=("on", "off"), default="on",
                   help="on (default): a real system bus and polkitd with puddle's action file, the agent at its "
                        "default polkit = \"auto\", as in production; off: no system bus, polkit = \"off\"")
    p.add_argument("--no-build", action="store_true", help="do not build (ninja) first")
    p.add_argument("--json", metavar="FILE", help="also write every raw figure to FILE")
    p.add_argument("--booted", choices=("debian12", "debian13"),
                   help="run inside a container booted with systemd as PID 1 (tests/boot): PAM login, logind, "
                        "the real journald taking the usage record, the system's polkitd")
    a = p.parse_args()
    defaults = dict(rounds=5, seconds=2.0, cold_runs=30, signatures=1_000_000)
    if a.quick:
        defaults = dict(rounds=3, seconds=1.0, cold_runs=10, signatures=200_000)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.unlock_runs is None:
        a.unlock_runs = a.rounds
    a.clients = [int(x) for x in a.clients.split(",") if x]
    a.bus_clients = [int(x) for x in a.bus_clients.split(",") if x]
    a.build = os.path.abspath(a.build)
    return a


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---- building

def prepare_binaries(a, tmpdir):
    """Returns the path of puddle-bench. Builds puddle and puddle-agent (and the
    benchmark when the top-level meson.build has subdir('bench')); without that
    line, compiles bench/puddle_bench.cpp on its own."""
    if not os.path.isfile(os.path.join(a.build, "build.ninja")):
        sys.exit("bench: %s is not a meson build directory (meson setup %s)" % (a.build, a.build))

    def compile_targets(targets):
        log("ninja -C %s %s" % (a.build, " ".join(targets)))
        r = subprocess.run(["ninja", "-C", a.build] + targets, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("bench: the build failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])

    def ninja_targets():
        return subprocess.run(["ninja", "-C", a.build, "-t", "targets", "all"], capture_output=True, text=True).stdout

    if not a.no_build:
        # Regenerate the build files if a meson.build changed, then build every
        # program under src/ (the fixture installs all of them: puddle,
        # puddle-agent, and whatever else the project has grown).
        subprocess.run(["ninja", "-C", a.build, "build.ninja"], capture_output=True)
    programs = [line.split(":")[0] for line in ninja_targets().splitlines()
                if line.startswith("src/") and line.endswith(": cpp_LINKER") and "/" not in line.split(":")[0][4:]]
    if not a.no_build:
        compile_targets(programs or ["src/puddle", "src/puddle-agent"])
    for exe in ("puddle", "puddle-agent"):
        if not os.access(os.path.join(a.build, "src", exe), os.X_OK):
            sys.exit("bench: %s/src/%s is missing" % (a.build, exe))
    targets = ninja_targets()
    if "bench/puddle-bench:" in targets:
        if not a.no_build:
            compile_targets(["bench/puddle-bench"])
        built = os.path.join(a.build, "bench", "puddle-bench")
        if os.access(built, os.X_OK):
            log("using %s" % built)
            return built
    out = os.path.join(tmpdir, "puddle-bench")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libsodium", "libsystemd"],
                           capture_output=True, text=True, check=True).stdout.split()
    log("bench/ is not in the meson build (no subdir('bench')): compiling puddle_bench.cpp directly")
    subprocess.run(["c++", "-std=c++20", "-O2", "-g", "-pthread", "-D_GNU_SOURCE", "-o", out,
                    os.path.join(HERE, "puddle_bench.cpp")] + flags, check=True)
    return out


def build_type(build):
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
        return "%s, b_ndebug=%s" % (opts.get("buildtype"), opts.get("b_ndebug"))
    except (OSError, ValueError, KeyError):
        return "unknown"


# ---- /proc readings (the driver is root, so it can read the non-dumpable agent)

def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])  # kB
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Pss", "Private_Clean", "Private_Dirty"):
                    out[k] = int(v.split()[0])
        out["USS"] = out.pop("Private_Clean", 0) + out.get("Private_Dirty", 0)
    except OSError:
        pass
    return out


def cpu_ns(pid):
    """Time on CPU of every thread of pid, in ns (schedstat, precise)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except OSError:
        return None
    return total


def pressure_total():
    """µs during which some runnable task waited for a CPU (PSI), or None."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().split()[4].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# ---- statistics and formatting

def med(v):
    return statistics.median(v) if v else float("nan")


def fmt_rate(v):
    if not v:
        return "-"
    return "%8.0f [%.0f–%.0f]" % (med(v), min(v), max(v))


def fmt_ms(v, digits=1):
    if not v:
        return "-"
    f = "%%.%df" % digits
    return ("%s ms [" + f + "–" + f + "]") % (f % med(v), min(v), max(v))


def verdict(ok):
    return "met" if ok else "NOT MET"


# ---- the benchmark

class Bench:
    def __init__(self, a, s, agent_session, bench_exe):
        self.a = a
        self.s = s
        self.ag = agent_session
        self.exe = bench_exe
        self.served = 0          # signatures the current agent process has made
        self.agent_pid0 = None
        self.ssh_proc = None
        self.ssh_sock = None
        self.results = {}
        self.t_start = time.monotonic()
        self.psi_start = pressure_total()

    def run(self, *args, timeout=600):
        argv = [self.exe] + [str(x) for x in args]
        r = self.s.run(argv, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout.strip().splitlines()[-1])

    def agent_pid(self):
        pid = self.ag.agent_pid()
        if not pid:
            raise RuntimeError("puddle-agent.service has no MainPID")
        return pid

    # -- setup

    def setup(self):
        s, ag = self.s, self.ag
        log("user %s (uid %d), systemd %s" % (s.user, s.uid, s.version))
        ag.install()
        # A file just written is dirty in the page cache until written back,
        # and smaps counts its mapped dirty pages as the agent's Private_Dirty.
        os.sync()
        # Default KDF (3 passes, 64 MiB): the fixture's fast test KDF would
        # make the unlock figure meaningless. The agent must not exit while idle.
        s.write_file(".config/puddle/puddle.toml", self.config_text())
        # Measuring only: the cold-start loop starts the service more often
        # than systemd's default rate limits allow (5 starts / 10 s, 20 triggers / 2 s).
        s.write_file(".config/systemd/user/puddle-agent.service.d/50-bench.conf", "[Unit]\nStartLimitIntervalSec=0\n")
        s.write_file(".config/systemd/user/puddle-agent.socket.d/50-bench.conf", "[Socket]\nTriggerLimitIntervalSec=0\n")
        s.systemctl("daemon-reload")
        dst = os.path.join(ag.bindir, "puddle-bench")
        shutil.copy2(self.exe, dst)
        os.chown(dst, s.uid, s.gid)
        self.exe = dst
        s.write_file(PASS_FILE, self._passphrase() + "\n", mode=0o600)
        t0 = time.monotonic()
        self.pubkey = ag.init()
        log("puddle init (default KDF) took %.2f s: %s" % (time.monotonic() - t0, self.pubkey))
        with open(ag.state_file("identity.wrapped"), "rb") as f:
            w = f.read()
        self.kdf = (int.from_bytes(w[9:13], "big"), int.from_bytes(w[13:17], "big"))

        # OpenSSH's agent with a fresh ed25519 key.
        keydir = os.path.join(s.home, ".bench-ssh")
        r = s.run(["mkdir", "-p", "-m", "700", keydir])
        key = os.path.join(keydir, "id_ed25519")
        r = s.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key])
        if r.returncode != 0:
            raise RuntimeError("ssh-keygen: " + r.stderr)
        self.ssh_sock = os.path.join(s.runtime_dir, "bench-ssh-agent.sock")
        self.ssh_proc = s.popen(["ssh-agent", "-D", "-a", self.ssh_sock],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.ssh_sock):
            if time.monotonic() > deadline or self.ssh_proc.poll() is not None:
                raise RuntimeError("ssh-agent did not start")
            time.sleep(0.02)
        r = s.run(["ssh-add", key], env={"SSH_AUTH_SOCK": self.ssh_sock})
        if r.returncode != 0:
            raise RuntimeError("ssh-add: " + r.stderr)
        self.ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()

    def systemd_version(self):
        if self.s.version:
            return self.s.version
        r = subprocess.run(["systemctl", "--version"], capture_output=True, text=True)
        first = r.stdout.splitlines()[0] if r.stdout else "?"
        return first.split(" ", 1)[-1] + (" (booted, %s)" % os.environ["PUDDLE_BOOTED"]
                                          if os.environ.get("PUDDLE_BOOTED") else "")

    def config_text(self, polkit=None):
        polkit = polkit or ("off" if self.a.polkit == "off" else None)
        return "[agent]\nexit_idle_seconds = 600\n" + ('polkit = "%s"\n' % polkit if polkit else "")

    def restart_agent(self):
        # A session ends with its agent (puddle-agent(1), KEY CUSTODY):
        # unlock the new one again.
        self.s.systemctl("stop", "puddle-agent.service")
        self.run("pubkey", "--socket", self.ag.sock_path)
        p = self.ag.unlock("--no-watch", "--idle-mins", "600")
        if p.returncode != 0:
            raise RuntimeError("puddle unlock after the restart: " + p.stderr)

    @staticmethod
    def _passphrase():
        import agent_fixture
        return agent_fixture.PASSPHRASE

    # -- 5 (first half). RSS while idle

    def rss_idle(self):
        r = self.run("pubkey", "--socket", self.ag.sock_path)       # socket activation
        pid = self.agent_pid()
        self.agent_pid0 = pid
        time.sleep(1.0)
        self.results["rss_locked"] = proc_status(pid)
        p = self.ag.unlock("--no-watch", "--idle-mins", "600")
        if p.returncode != 0:
            raise RuntimeError("puddle unlock: " + p.stderr)
        time.sleep(1.5)  # past the once-a-second session.unlocked rewrite
        if self.agent_pid() != pid:
            raise RuntimeError("the agent restarted during the idle readings")
        self.results["rss_unlocked"] = proc_status(pid)
        # The floor: the same libraries loaded and initialised, doing nothing.
        fp = self.s.popen([self.exe, "idle-floor"], stdout=subprocess.PIPE, text=True)
        try:
            fp.stdout.readline()
            time.sleep(1.0)
            self.results["rss_floor"] = proc_status(fp.pid)
        finally:
            fp.kill()
            fp.wait()
        # puddle's own ssh-agent door, where this build has one: same client as for OpenSSH.
        self.pssh_sock = os.path.join(os.path.dirname(self.ag.sock_path), "ssh-agent.sock")
        if not os.path.exists(self.pssh_sock):
            self.pssh_sock = None
        else:
            try:
                self.run("sign", "--target", "ssh", "--socket", self.pssh_sock, "--clients", 1, "--count", 10)
            except RuntimeError as e:
                log("puddle's ssh-agent.sock does not sign (%s); leaving it out" % str(e).strip()[-200:])
                self.pssh_sock = None
        log("idle RSS: locked %(VmRSS)d kB" % self.results["rss_locked"] +
            ", unlocked %(VmRSS)d kB" % self.results["rss_unlocked"])

    # -- 1. signatures per second

    def throughput(self):
        a = self.a
        res = {("puddle", c): [] for c in a.clients}
        res.update({("ssh", c): [] for c in a.clients})
        res.update({("raw", c): [] for c in a.clients})
        res.update({("echo", c): [] for c in a.clients})
        targets = ["puddle", "ssh", "raw", "echo"] + (["pssh"] if self.pssh_sock else [])
        res.update({("pssh", c): [] for c in a.clients if self.pssh_sock})
        cpu = {k: [] for k in res}
        # Rounds interleave the targets, so slow drift in the machine's load
        # (this VM is shared) hits all columns alike.
        for rnd in range(a.rounds):
            log("socket signing, round %d/%d" % (rnd + 1, a.rounds))
            for c in a.clients:
                for target in targets:
                    args = ["sign", "--target", "ssh" if target == "pssh" else target, "--clients", c,
                            "--seconds", a.seconds, "--warmup", a.warmup]
                    server = None
                    if target == "pssh":
                        args += ["--socket", self.pssh_sock]
                        server = self.agent_pid()
                    elif target == "puddle":
                        args += ["--socket", self.ag.sock_path]
                        server = self.agent_pid()
                    elif target == "ssh":
                        args += ["--socket", self.ssh_sock]
                        server = self.ssh_proc.pid
                    c0 = cpu_ns(server) if server else None
                    r = self.run(*args)
                    if server:
                        # server CPU per signature, over the whole run (warm-up and connection set-up included)
                        c1 = cpu_ns(server)
                        cpu[(target, c)].append((c1 - c0) / 1e3 / r["total"])
                    if target in ("puddle", "pssh"):
                        self.served += r["total"]
                    res[(target, c)].append(r["rate"])
        self.results["sign"] = {"%s/%d" % k: v for k, v in res.items()}
        self.results["sign_server_cpu_us"] = {"%s/%d" % k: v for k, v in cpu.items() if v}
        self.sign, self.sign_cpu = res, cpu

    # -- 2. D-Bus

    def dbus(self):
        a = self.a
        res = {(m, c): [] for c in a.bus_clients for m in ("sign", "ping")}
        for rnd in range(a.rounds):
            log("D-Bus Sign / Peer.Ping, round %d/%d" % (rnd + 1, a.rounds))
            for c in a.bus_clients:
                for m in ("sign", "ping"):
                    r = self.run("bus", "--method", m, "--clients", c, "--seconds", a.seconds, "--warmup", a.warmup)
                    if m == "sign":
                        self.served += r["total"]
                    res[(m, c)].append(r["rate"])
        self.bus = res
        self.results["dbus"] = {"%s/%d" % k: v for k, v in res.items()}

    # -- 5 (second half). RSS after many signatures

    @staticmethod
    def settled_status(pid):
        # journald takes the usage record more slowly than 64 clients get
        # signatures: the agent's backlog drains for seconds after the last
        # one. Read once its memory has settled (the same for 2 s, at most 60 s).
        time.sleep(1.5)
        last, still = proc_status(pid), 0.0
        for _ in range(120):
            time.sleep(0.5)
            now = proc_status(pid)
            still = still + 0.5 if (now["VmRSS"], now["RssAnon"]) == (last["VmRSS"], last["RssAnon"]) else 0.0
            last = now
            if still >= 2.0:
                break
        return last

    def rss_after(self):
        pid = self.agent_pid()
        if pid != self.agent_pid0:
            raise RuntimeError("the agent restarted during the run (MainPID %d, was %d)" % (pid, self.agent_pid0))
        more = self.a.signatures - self.served
        if more > 0:
            # A first reading after the warm-up (every door used, bursts of 64
            # connections made): growth from here on is what accumulates, apart
            # from what a first burst leaves once.
            self.results["rss_mid"] = self.settled_status(pid)
            self.results["rss_mid_signatures"] = self.served
            log("topping up to %d signatures: %d more over 64 connections" % (self.a.signatures, more))
            r = self.run("sign", "--target", "puddle", "--socket", self.ag.sock_path, "--clients", 64, "--count", more,
                         timeout=3600)
            self.served += r["total"]
        self.results["rss_after"] = self.settled_status(pid)
        self.results["rss_after_signatures"] = self.served
        # While it signs: a second after the last request the agent unmaps the
        # code it no longer runs (util/resident.hpp), so the idle readings show
        # less than a signature keeps mapped. This one is read mid-run.
        p = self.s.popen([self.exe, "sign", "--target", "puddle", "--socket", self.ag.sock_path, "--clients", "1",
                          "--count", "20000"], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.8)
            self.results["rss_signing"] = proc_status(pid)
            out, _ = p.communicate(timeout=600)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if p.returncode == 0:
            self.served += json.loads(out.strip().splitlines()[-1])["total"]

    # -- what polkit costs on the signing path

    def polkit_cost(self):
        a = self.a
        clients = sorted({a.clients[0], a.clients[-1]})
        res = {(m, c): [] for m in ("auto", "off") for c in clients}
        try:
            for rnd in range(a.rounds):
                log("polkit on/off, round %d/%d" % (rnd + 1, a.rounds))
                for mode in ("auto", "off"):
                    self.s.write_file(".config/puddle/puddle.toml", self.config_text(mode))
                    self.restart_agent()
                    for c in clients:
                        r = self.run("sign", "--target", "puddle", "--socket", self.ag.sock_path, "--clients", c,
                                     "--seconds", a.seconds, "--warmup", a.warmup)
                        res[(mode, c)].append(r["rate"])
        finally:
            self.s.write_file(".config/puddle/puddle.toml", self.config_text())
            self.restart_agent()
        self.polkit = res
        self.results["polkit_cost"] = {"%s/%d" % k: v for k, v in res.items()}

    # -- 3. cold start

    def cold(self):
        a, s = self.a, self.s
        n = a.cold_runs
        out = {}
        sock = self.ag.sock_path
        self.ag.puddle("lock")
        s.systemctl("log-level", "info")
        try:
            log("cold start: locked, %d runs" % n)
            out["locked"] = self.run("cold", "--socket", sock, "--runs", n)["ms"]
            # (No "unlocked" cold start: a session ends with its agent, so a
            # cold agent is always locked; see puddle-agent(1), KEY CUSTODY.)
            if a.cold_breakdown:
                out["breakdown"] = self.cold_breakdown()
        finally:
            s.systemctl("log-level", "debug")  # the harness maps PIDs to units from debug messages
        log("cold start: locked, manager at debug log level (harness default), %d runs" % n)
        out["locked_debug"] = self.run("cold", "--socket", sock, "--runs", n)["ms"]
        s.systemctl("stop", "puddle-agent.service")
        log("agent started by hand (no systemd), %d runs" % n)
        out["by_hand"] = self.run("exec-cold", "--agent", os.path.join(self.ag.bindir, "puddle-agent"),
                                  "--runs", n)["ms"]
        out["by_hand_nobus"] = self.run("exec-cold", "--agent", os.path.join(self.ag.bindir, "puddle-agent"),
                                        "--runs", n, "--bus", "no")["ms"]
        self.run("pubkey", "--socket", sock)  # the service again, for what follows
        self.coldres = out
        self.results["cold_ms"] = out

    def cold_breakdown(self):
        s = self.s
        rel = ".config/systemd/user/puddle-agent.service.d/60-bench-variant.conf"
        res = []
        try:
            for label, body in COLD_VARIANTS:
                s.write_file(rel, "[Service]\n" + body)
                s.systemctl("daemon-reload")
                log("cold start breakdown: %s" % label)
                res.append((label, self.run("cold", "--socket", self.ag.sock_path, "--runs", self.a.cold_runs)["ms"]))
        finally:
            try:
                os.unlink(os.path.join(s.home, rel))
            except FileNotFoundError:
                pass
            s.systemctl("daemon-reload")
        return res

    # -- 4. unlock

    def unlock(self):
        log("unlock vs bare Argon2id, %d rounds" % self.a.unlock_runs)
        # identity.wrapped is sealed to this machine's envoy (docs/formats.md):
        # the bare Argon2id figure derives from the passphrase wrap inside it,
        # which `puddle export` hands out (the agent's Unlock opens the seal too).
        p = self.ag.puddle("export", "-")
        if p.returncode != 0:
            raise RuntimeError("puddle export failed: " + p.stderr)
        wrapped = self.s.write_file(".bench-wrapped-v1", base64.b64decode(json.loads(p.stdout)["wrapped"]), mode=0o600)
        r = self.run("unlock", "--runs", self.a.unlock_runs, "--passphrase-file", os.path.join(self.s.home, PASS_FILE),
                     "--wrapped", wrapped, "--puddle", os.path.join(self.ag.bindir, "puddle"))
        self.unlockres = r
        self.results["unlock"] = r

    # -- profile of the socket path

    def strace_counts(self, pid, tmp, *bench_args):
        """[(calls, syscall)] made by pid while puddle-bench runs bench_args."""
        path = os.path.join(tmp, "strace-%d.txt" % time.monotonic_ns())
        st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", path], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        self.run(*bench_args)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=30)
        calls = []
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1] != "total":
                    calls.append((int(parts[3]), parts[-1]))
        return sorted(calls, reverse=True)

    def profile(self):
        """Where the time of one signature goes: syscalls per signature
        (strace -c), then cpu-clock samples (perf; this VM has no hardware
        counters) of the agent with 1 and 64 connections, and of the whole
        machine split by process."""
        out = []
        pid = self.agent_pid()
        sock = self.ag.sock_path
        tmp = tempfile.mkdtemp(prefix="puddle-bench-prof.")

        def perf_report(data, *args):
            return subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none"] + list(args),
                                  capture_output=True, text=True).stdout.splitlines()

        def rows(lines, limit, pred=lambda l: True):
            got = [l.strip() for l in lines if l.strip() and not l.startswith("#") and pred(l)]
            return got[:limit]

        try:
            n = 20000
            calls = self.strace_counts(pid, tmp, "sign", "--target", "puddle", "--socket", sock, "--clients", 1,
                                       "--count", n)
            out.append("agent syscalls per signature over agent.sock (strace -c -f, %d signatures, 1 connection): "
                       "%s; total %.2f" % (n, ", ".join("%s %.2f" % (name, c / n) for c, name in calls if c / n >= 0.01),
                                          sum(c for c, _ in calls) / n))
            nb = 5000
            if self.pssh_sock:
                calls = self.strace_counts(pid, tmp, "sign", "--target", "ssh", "--socket", self.pssh_sock,
                                           "--clients", 1, "--count", nb)
                out.append("agent syscalls per signature over puddle's ssh-agent.sock (%d): %s; total %.2f" % (
                    nb, ", ".join("%s %.2f" % (name, c / nb) for c, name in calls if c / nb >= 0.01),
                    sum(c for c, _ in calls) / nb))
            for method in ("sign", "ping"):
                calls = self.strace_counts(pid, tmp, "bus", "--method", method, "--clients", 1, "--count", nb)
                out.append("agent syscalls per D-Bus %s (%d calls): %s; total %.2f" % (
                    "Sign" if method == "sign" else "Peer.Ping", nb,
                    ", ".join("%s %.2f" % (name, c / nb) for c, name in calls if c / nb >= 0.01),
                    sum(c for c, _ in calls) / nb))
            if not shutil.which("perf"):
                out.append("(perf not installed: no sampling profile)")
                return
            runs = [("agent process, agent.sock, 1 connection", ["--target", "puddle", "--socket", sock, "--clients", 1],
                     False),
                    ("agent process, agent.sock, 64 connections",
                     ["--target", "puddle", "--socket", sock, "--clients", 64], False)]
            if self.pssh_sock:
                runs.append(("agent process, puddle's ssh-agent.sock, 1 connection",
                             ["--target", "ssh", "--socket", self.pssh_sock, "--clients", 1], False))
            runs.append(("whole machine, agent.sock, 1 connection",
                         ["--target", "puddle", "--socket", sock, "--clients", 1], True))
            for label, bench_args, whole in runs:
                data = os.path.join(tmp, "perf.data")
                who = ["-a"] if whole else ["-p", str(pid)]
                pr = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-o", data]
                                      + who, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                c0 = cpu_ns(pid)
                r = self.run("sign", "--seconds", 3, "--warmup", 0.2, *bench_args)
                c1 = cpu_ns(pid)
                pr.send_signal(signal.SIGINT)
                pr.wait(timeout=60)
                out.append("")
                out.append("perf, %s: %.0f signatures/s, agent on CPU %.1f µs per signature"
                           % (label, r["rate"], (c1 - c0) / 1e3 / r["total"]))
                if whole:
                    out.append("  samples by process and object (puddle-agent, the client puddle-bench, idle)")
                    out += ["  " + l for l in rows(perf_report(data, "--no-children", "--sort", "comm,dso",
                                                               "--comms", "puddle-agent,puddle-bench,swapper",
                                                               "--percentage", "relative", "--percent-limit", "1"),
                                                   14)]
                    continue
                out.append("  self time by object:")
                out += ["    " + l for l in rows(perf_report(data, "--no-children", "--sort", "dso",
                                                             "--percent-limit", "1"), 8)]
                out.append("  kernel time by system call (inclusive):")
                out += ["    " + l for l in rows(perf_report(data, "--children", "--sort", "sym"), 8,
                                                 lambda l: "__x64_sys_" in l or "__do_sys_" in l)]
                out.append("  kernel self time by function:")
                out += ["    " + l for l in rows(perf_report(data, "--no-children", "--sort", "sym",
                                                             "--percent-limit", "1.5"), 6, lambda l: "[k]" in l)]
                out.append("  user-space self time by function:")
                out += ["    " + l for l in rows(perf_report(data, "--no-children", "--sort", "dso,sym",
                                                             "--percent-limit", "0.7"), 14,
                                                 lambda l: "[k]" not in l)]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            self.prof = out

    # -- the table

    def report(self, t_total):
        a = self.a
        L = []
        L.append("")
        L.append("puddle benchmark — %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
        psi_end = pressure_total()
        busy = None
        if self.psi_start is not None and psi_end is not None:
            busy = 100 * (psi_end - self.psi_start) / 1e6 / (time.monotonic() - self.t_start)
        L.append("machine: %d CPUs (%s), kernel %s; load average at the end %s; CPU pressure over the run %s"
                 % (os.cpu_count(), cpu_model(), platform.release(), loadavg(),
                    "%.0f %%" % busy if busy is not None else "unknown"))
        if busy is not None and busy > 20:
            L.append("WARNING: other work competed for the CPUs during %.0f %% of the run: absolute rates, the "
                     "one-connection rows and latencies are inflated by scheduling delays; prefer the ratios" % busy)
        L.append("build: %s (%s); %s; systemd %s; libsodium %s"
                 % (a.build, build_type(a.build), self.ssh_version, self.systemd_version(), self._pkgver("libsodium23")))
        L.append("figures: median [min–max] over %d rounds (%.1f s windows after %.1f s warm-up); "
                 "rounds interleave the columns" % (a.rounds, a.seconds, a.warmup))
        L.append("")
        L.append("1. Signatures per second, request/response, one connection (thread) per client")
        L.append("   %-7s %-24s %-24s %-24s %-24s %8s %8s  %s"
                 % ("clients", "puddle agent.sock", "ssh-agent (ed25519)", "raw libsodium", "IPC floor (echo)",
                    "pud/ssh", "pud/raw", "server µs CPU/sig: puddle | ssh-agent"))
        for c in a.clients:
            p, sh, rw, ec = (self.sign[(t, c)] for t in ("puddle", "ssh", "raw", "echo"))
            cpu_p, cpu_s = self.sign_cpu[("puddle", c)], self.sign_cpu[("ssh", c)]
            L.append("   %-7d %-24s %-24s %-24s %-24s %7.2fx %7.0f%%  %.1f | %.1f"
                     % (c, fmt_rate(p), fmt_rate(sh), fmt_rate(rw), fmt_rate(ec), med(p) / med(sh),
                        100 * med(p) / med(rw), med(cpu_p), med(cpu_s)))
        c1 = a.clients[0]
        p1, s1, r1 = med(self.sign[("puddle", c1)]), med(self.sign[("ssh", c1)]), med(self.sign[("raw", c1)])
        e1 = med(self.sign[("echo", c1)])
        worst = min(med(self.sign[("puddle", c)]) / med(self.sign[("ssh", c)]) for c in a.clients)
        L.append("   target: ≥ 1.5× ssh-agent → %.2fx on %d connection(s), worst %.2fx over all rows: %s"
                 % (p1 / s1, c1, worst, verdict(worst >= 1.5)))
        bound = 1e6 / (1e6 / r1 + 1e6 / e1)
        L.append("   target: one connection ≥ 90 %% of the one-round-trip bound below → %.0f %%: %s"
                 % (100 * p1 / bound, verdict(p1 / bound >= 0.9)))
        L.append("   on %d connection(s): one signature %.1f µs + one IPC round trip %.1f µs = %.1f µs, a bound of "
                 "%.0f/s (%.0f %% of raw) for any out-of-process signer; puddle's round trip %.1f µs is %.1f µs above it"
                 % (c1, 1e6 / r1, 1e6 / e1, 1e6 / r1 + 1e6 / e1, bound, 100 * bound / r1, 1e6 / p1,
                    1e6 / p1 - (1e6 / r1 + 1e6 / e1)))
        L.append("   (raw libsodium = crypto_sign_detached in this process, one thread per client: the physical limit;")
        L.append("    IPC floor = the same line-protocol client against a do-nothing epoll server in another process;")
        L.append("    server µs CPU/sig = the server's CPU time over the run divided by its signatures;")
        L.append("    polkit: %s)" % self.polkit_note)
        if self.pssh_sock:
            L.append("   puddle's own ssh-agent.sock, same ssh-agent client loop:")
            for c in a.clients:
                ps, sh = self.sign[("pssh", c)], self.sign[("ssh", c)]
                L.append("   %-7d %-26s %8.2fx OpenSSH ssh-agent, server CPU %.1f µs/sig"
                         % (c, fmt_rate(ps), med(ps) / med(sh), med(self.sign_cpu[("pssh", c)])))
        if getattr(self, "polkit", None):
            L.append("   what polkit costs: agent.sock signing with polkit = \"auto\" (polkitd answering, allow cached"
                     " 1 s per connection) vs \"off\"")
            for c in sorted({k[1] for k in self.polkit}):
                on, off = self.polkit[("auto", c)], self.polkit[("off", c)]
                L.append("   %-7d auto %-26s off %-26s auto/off %.0f %%" % (c, fmt_rate(on), fmt_rate(off),
                                                                          100 * med(on) / med(off)))
        L.append("")
        L.append("2. D-Bus calls per second (sd-bus, sd_bus_call, user bus), one connection per client")
        L.append("   %-7s %-26s %-26s %9s" % ("clients", "Sign(ay) 32 bytes", "Peer.Ping (bus floor)", "Sign/Ping"))
        for c in a.bus_clients:
            sg, pg = self.bus[("sign", c)], self.bus[("ping", c)]
            L.append("   %-7d %-26s %-26s %8.0f%%" % (c, fmt_rate(sg), fmt_rate(pg), 100 * med(sg) / med(pg)))
        b1 = a.bus_clients[0]
        ratio = med(self.bus[("sign", b1)]) / med(self.bus[("ping", b1)])
        L.append("   target: Sign ≥ 85 %% of Peer.Ping → %.0f %%: %s" % (100 * ratio, verdict(ratio >= 0.85)))
        t_ping = 1e6 / med(self.bus[("ping", b1)])
        t_sign = 1e6 / med(self.sign[("raw", a.clients[0])])
        L.append("   on %d connection(s): Ping round trip %.1f µs; adding one signature (%.1f µs) bounds Sign at %.0f %% of "
                 "Ping; Sign's round trip %.1f µs is %.1f µs above Ping + signature"
                 % (b1, t_ping, t_sign, 100 * t_ping / (t_ping + t_sign), 1e6 / med(self.bus[("sign", b1)]),
                    1e6 / med(self.bus[("sign", b1)]) - t_ping - t_sign))
        L.append("")
        cr = self.coldres
        n = len(cr["locked"])
        L.append("3. Cold start: agent stopped, socket listening → first reply to PUBKEY (connect to LF), %d runs each" % n)
        L.append("   via the user manager, locked                  %s" % fmt_ms(cr["locked"]))
        L.append("   via the user manager at debug log level       %s   (the harness's default; production runs at info)"
                 % fmt_ms(cr["locked_debug"]))
        L.append("   by hand: fork+exec puddle-agent --socket      %s   (no systemd, no sandbox)" % fmt_ms(cr["by_hand"]))
        L.append("   by hand, --no-bus                             %s" % fmt_ms(cr["by_hand_nobus"]))
        L.append("   target: ≤ 15 ms → %.1f ms: %s" % (med(cr["locked"]), verdict(med(cr["locked"]) <= 15)))
        if cr.get("breakdown"):
            L.append("   breakdown (locked, manager at info; drop-ins switch parts of the unit off, measuring only):")
            for label, v in cr["breakdown"]:
                L.append("     %-58s %s" % (label, fmt_ms(v)))
        L.append("")
        u = self.unlockres
        L.append("4. Unlock, Argon2id opslimit %d, memlimit %d KiB (read from the passphrase wrap), %d rounds"
                 % (u["opslimit"], u["memlimit_kib"], len(u["unlock_ms"])))
        L.append("   D-Bus Unlock (sealed memfd, as puddle unlock)  %s" % fmt_ms(u["unlock_ms"]))
        L.append("   bare crypto_pwhash, same parameters           %s" % fmt_ms(u["argon2_ms"]))
        if u["command_ms"]:
            L.append("   whole `puddle unlock --no-watch` command      %s" % fmt_ms(u["command_ms"]))
        ur = med(u["unlock_ms"]) / med(u["argon2_ms"])
        L.append("   target: Unlock ≤ 1.1× bare Argon2id → %.2fx: %s" % (ur, verdict(ur <= 1.1)))
        L.append("")
        L.append("5. Agent memory (/proc/MainPID/status, kB)")
        L.append("   %-44s %8s %8s %8s %8s %8s %8s %8s" % ("", "VmRSS", "RssAnon", "RssFile", "Pss", "USS", "PrivDrty",
                                                         "VmHWM"))
        mid = [("after %d signatures (warm-up)" % self.results["rss_mid_signatures"], "rss_mid")] \
            if "rss_mid" in self.results else []
        for label, key in [("idle, locked", "rss_locked"), ("idle, unlocked", "rss_unlocked")] + mid + [
                           ("after %d signatures" % self.results["rss_after_signatures"], "rss_after"),
                           ("while signing (1 connection)", "rss_signing"),
                           ("floor: libsodium+libsystemd+libstdc++ idle", "rss_floor")]:
            r = self.results[key]
            L.append("   %-44s %8d %8d %8d %8d %8d %8d %8d" % (label, r["VmRSS"], r.get("RssAnon", 0), r.get("RssFile", 0),
                                                                r.get("Pss", 0), r.get("USS", 0),
                                                                r.get("Private_Dirty", 0), r["VmHWM"]))
        L.append("   (signatures counted over this agent process's life: socket and D-Bus rounds, plus a top-up "
                 "over 64 connections to reach --signatures %d)" % a.signatures)
        L.append("   (Pss: shared pages divided among the processes mapping them; USS: pages only this process has;")
        L.append("    VmHWM: peak, i.e. the Argon2id arena during unlock; floor: puddle-bench idle-floor, the agent's")
        L.append("    main libraries loaded, an sd-event loop and a user-bus connection, doing nothing)")
        unl, after = self.results["rss_unlocked"], self.results["rss_after"]
        L.append("   (idle: a second after the last request the agent unmaps the code it no longer runs; while signing:")
        L.append("    read in the middle of a one-connection run, what a signature keeps mapped)")
        sig = self.results.get("rss_signing", unl)
        top = max(unl["VmRSS"], sig["VmRSS"])
        L.append("   target: unlocked RSS ≤ 5 MiB (idle or signing, the larger) → %.2f MiB: %s"
                 % (top / 1024, verdict(top <= 5120)))
        # Under --booted the installed programs live in the container's tmpfs
        # overlay: their mapped pages are shared memory, counted as private
        # dirty, though on a disk they are clean page cache. RssShmem is them.
        pd = max(r.get("Private_Dirty", 0) - r.get("RssShmem", 0) for r in (unl, after, sig))
        shm = max(r.get("RssShmem", 0) for r in (unl, after, sig))
        L.append("   target: private dirty ≤ 512 KiB → %d KiB%s: %s"
                 % (pd, " (less RssShmem: the program's own pages, in tmpfs under --booted, up to %d KiB)" % shm
                    if shm else "", verdict(pd <= 512)))
        n_sig = self.results["rss_after_signatures"]
        growth = (after["VmRSS"] - unl["VmRSS"]) * 1_000_000 / max(n_sig, 1)
        L.append("   target: growth ≤ 256 KiB over 1,000,000 signatures → %+d KiB over %d (%+.0f KiB per million): %s"
                 % (after["VmRSS"] - unl["VmRSS"], n_sig, growth, verdict(growth <= 256)))
        if "rss_mid" in self.results:
            m, n_mid = self.results["rss_mid"], self.results["rss_mid_signatures"]
            n = max(n_sig - n_mid, 1)
            L.append("   after the warm-up (%d signatures more): VmRSS %+d KiB, RssAnon %+d KiB (%+.0f and %+.0f KiB per "
                     "million): what accumulates, without what the first bursts leave once"
                     % (n_sig - n_mid, after["VmRSS"] - m["VmRSS"], after.get("RssAnon", 0) - m.get("RssAnon", 0),
                        (after["VmRSS"] - m["VmRSS"]) * 1_000_000 / n,
                        (after.get("RssAnon", 0) - m.get("RssAnon", 0)) * 1_000_000 / n))
        L.append("")
        L.append("total run time %.0f s. Targets are reported, not asserted." % t_total)
        if getattr(self, "prof", None):
            L.append("")
            L.append("Profile of the socket path")
            L += ["   " + l for l in self.prof]
        return "\n".join(L)

    @staticmethod
    def _pkgver(pkg):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        return r.stdout.strip() or "?"


def run_booted(a):
    """Runs this script again inside the booted container of tests/boot (the
    build installed in /usr as a user gets it), one booted container at a
    time (the lock the booted tests take)."""
    if a.json:
        sys.exit("bench: --json is not available with --booted (the container's files go with it)")
    if not a.no_build:
        r = subprocess.run(["ninja", "-C", a.build], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("bench: the build failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])
    argv = [x for x in sys.argv[1:] if os.path.abspath(x) != a.build and not x.startswith("--booted")]
    if "--booted" in sys.argv:
        i = argv.index(a.booted) if a.booted in argv else -1
        if i >= 0:
            del argv[i]
    env = dict(os.environ, PUDDLE_BUILD_ROOT=a.build)
    cmd = ["flock", "/tmp/puddle-booted.lock", "/usr/bin/python3", os.path.join(SOURCE, "tests", "boot", "run_inside.py"),
           a.booted, os.path.abspath(__file__), "--no-build"] + [x for x in argv if x != "--no-build"]
    log("booted %s: %s" % (a.booted, " ".join(cmd)))
    return subprocess.run(cmd, env=env).returncode


def main():
    a = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it creates a throwaway user with its own systemd --user manager)")
    if a.booted:
        return run_booted(a)
    tmpdir = tempfile.mkdtemp(prefix="puddle-bench.")
    try:
        exe = prepare_binaries(a, tmpdir)
        os.environ["PUDDLE_BUILD_ROOT"] = a.build
        os.environ.setdefault("PUDDLE_SOURCE_ROOT", SOURCE)
        sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
        import agent_fixture
        from puddle_harness import Skip, UserSession  # noqa: E402 (path set above)
        from puddle_harness import SystemBus
        import contextlib
        t0 = time.monotonic()
        try:
            with contextlib.ExitStack() as stack:
                note = 'off (no system bus; polkit = "off")'
                policy = os.path.join(SOURCE, "polkit", "org.puddle.policy")
                if a.polkit == "on":
                    if not os.path.exists(policy):
                        sys.exit("bench: %s is missing; use --polkit off" % policy)
                    sysbus = stack.enter_context(SystemBus())
                    sysbus.install_action_file(policy)
                    note = ('polkit = "auto" with polkitd %s on the system bus and puddle\'s action file'
                            % (sysbus.polkit_pid or "(running)"))
                s = stack.enter_context(UserSession(name_prefix="pdb"))
                ag = agent_fixture.AgentSession(s)
                b = Bench(a, s, ag, exe)
                b.polkit_note = note
                try:
                    b.setup()
                    b.rss_idle()
                    b.throughput()
                    b.dbus()
                    b.rss_after()
                    if a.polkit == "on":
                        b.polkit_cost()
                    b.cold()
                    b.unlock()
                    if a.profile:
                        b.profile()
                    text = b.report(time.monotonic() - t0)
                finally:
                    if ag.monitor:
                        ag.monitor.kill()
                    if b.ssh_proc and b.ssh_proc.poll() is None:
                        b.ssh_proc.terminate()
                        b.ssh_proc.wait(timeout=10)
        except Skip as e:
            print("SKIP: %s" % e)
            return 77
        print(text)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(b.results, f, indent=1, default=str)
        return 0
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""A real systemd booted as PID 1 in a container (systemd-nspawn), with the
project installed as a user gets it and users logged in through PAM.

    with Machine("debian13") as m:          # boots, installs, enables the sockets
        u = m.add_user()                    # a user with a uid no other test uses
        m.login(u, ["puddle", "status"])    # runs inside a PAM login session on seat0

debian12 boots the host's own root (Debian 12, systemd 252, polkit 122) under a
tmpfs overlay; debian13 boots a trixie root built by make-root.sh (systemd 257,
polkit 126). Nothing written inside survives the poweroff. The project is
installed inside with `meson install` from a build directory configured with
--prefix /usr (for debian13, one built inside the trixie root, see
build_in_root), and the agent sockets are enabled for all users, as the
Debian package does. See tests/boot/README.md.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "container.sh")
SOURCE = os.path.dirname(os.path.dirname(HERE))
TRIXIE_ROOT = os.environ.get("PUDDLE_TRIXIE_ROOT", "/var/tmp/puddle-test/trixie")
# Regular uids (not in systemd's dynamic range 61184-65519, whose journal
# entries journald keeps out of the user's own journal), used by no other
# test: keyrings are per uid across the whole kernel.
DISTROS = {"debian12": {"uid_base": 45100, "systemd": 252},
           "debian13": {"uid_base": 45200, "systemd": 257}}


class Skip(Exception):
    """A prerequisite is missing (not root, no systemd-nspawn, no trixie root):
    the test reports SKIP with this reason, never a pass."""


class BootError(RuntimeError):
    """Something that should have worked did not (a failure, not a skip)."""


def build_dir_for(distro):
    """The build directory whose programs are installed into the container."""
    base = os.environ.get("PUDDLE_BUILD_ROOT") or os.path.join(SOURCE, "build-test")
    return base if distro == "debian12" else base.rstrip("/") + "-trixie"


def build_in_root(root, builddir, log=sys.stderr):
    """Configures (once) and builds the project inside ROOT without booting it;
    the source is bound read-only, the build directory read-write, both at
    their host paths."""
    os.makedirs(builddir, exist_ok=True)
    # Only what is installed (no unit tests), with line tables for debug info.
    script = ("set -e; cd %s; [ -f %s/build.ninja ] || meson setup %s --prefix /usr -Dbench=false -Dtests=false "
              "-Dcpp_args=-g1 >/dev/null; ninja -C %s >%s/ninja.log 2>&1 || { tail -c 3500 %s/ninja.log; exit 1; }"
              % tuple(shlex.quote(x) for x in (SOURCE, builddir, builddir, builddir, builddir, builddir)))
    env = dict(os.environ, PUDDLE_NSPAWN_ARGS="--bind-ro=%s --bind=%s" % (SOURCE, builddir))
    r = subprocess.run([CONTAINER, "build-%d" % os.getpid(), "run", root, "sh", "-c", script],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    if r.returncode != 0:
        raise BootError("building inside %s failed:\n%s" % (root, r.stdout[-4000:]))


class Machine:
    def __init__(self, distro):
        if distro not in DISTROS:
            raise ValueError(distro)
        self.distro = distro
        self.name = "pdl%s-%d" % (distro[-2:], os.getpid())
        self.builddir = build_dir_for(distro)
        self.root = "/" if distro == "debian12" else TRIXIE_ROOT
        # nspawn arguments: the source and the build directory, at their host paths.
        self.binds = "--bind-ro=%s --bind=%s" % (SOURCE, self.builddir)
        self.users = []
        self._up = False
        self._next_uid = DISTROS[distro]["uid_base"]

    # -- life cycle -------------------------------------------------------
    def check_prerequisites(self):
        if os.geteuid() != 0:
            raise Skip("needs root (boots a container)")
        if not shutil.which("systemd-nspawn"):
            raise Skip("systemd-nspawn is not installed (apt-get install systemd-container)")
        if self.distro == "debian13" and not os.path.exists(os.path.join(self.root, "usr/lib/systemd/systemd")):
            raise Skip("no trixie root at %s (tests/boot/make-root.sh builds it)" % self.root)
        if self.distro == "debian13":
            build_in_root(self.root, self.builddir)
        if not os.path.exists(os.path.join(self.builddir, "src", "puddle-agent")):
            raise BootError("no built agent in %s" % self.builddir)
        prefix = self._build_prefix()
        if prefix != "/usr":
            raise BootError("%s is configured with --prefix %s; the container install needs /usr "
                            "(meson configure %s -Dprefix=/usr)" % (self.builddir, prefix, self.builddir))

    def _build_prefix(self):
        with open(os.path.join(self.builddir, "meson-info", "intro-buildoptions.json")) as f:
            return next(o["value"] for o in json.load(f) if o["name"] == "prefix")

    def __enter__(self):
        self.check_prerequisites()
        try:
            self.up()
            self.install()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self):
        env = dict(os.environ, PUDDLE_NSPAWN_ARGS=self.binds)
        self._up = True
        r = subprocess.run([CONTAINER, self.name, "up", self.root], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        if r.returncode != 0 or "running" not in r.stdout:
            raise BootError("the %s container did not boot to 'running':\n%s" % (self.distro, r.stdout[-3000:]))
        self.boot_line = r.stdout.strip().splitlines()[-1]

    def down(self):
        if not self._up:
            return
        self._up = False
        subprocess.run([CONTAINER, self.name, "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)

    def install(self):
        self.exec(["meson", "install", "--no-rebuild", "--quiet", "-C", self.builddir])
        # What the Debian package's postinst does: the agent sockets for every user.
        self.exec(["systemctl", "--global", "enable", "puddle-agent.socket", "puddle-agent-ssh.socket",
                   "puddle-fleet.timer", "puddle-fleet.path"])
        self.exec(["systemctl", "daemon-reload"])
        self.exec(["systemctl", "try-restart", "polkit.service"])  # reads the new action file

    # -- running things ---------------------------------------------------
    def _nsenter(self):
        with open("/tmp/pid1-%s/leader.pid" % self.name) as f:
            return ["nsenter", "-t", f.read().strip(), "-a"]

    def exec(self, argv, input=None, check=True, timeout=120):
        """argv as root inside the container (not in a login session)."""
        r = subprocess.run(self._nsenter() + list(argv), input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise BootError("%s: %s exited %d:\n%s%s" % (self.distro, shlex.join(argv), r.returncode, r.stdout,
                                                          r.stderr))
        return r

    def add_user(self):
        uid = self._next_uid
        self._next_uid += 1
        name = "pb%d" % uid
        self.exec(["useradd", "-m", "-u", str(uid), "-s", "/bin/bash", name])
        self.users.append(name)
        return name

    def login(self, user, argv, input=None, timeout=120, env=None):
        """argv as USER in a new PAM login session on seat0 (pam_systemd ->
        logind -> user@UID.service), stdin/stdout/stderr piped through."""
        props = ["-p", "PAMName=login", "-p", "User=" + user,
                 "-p", "Environment=XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user"]
        for k, v in (env or {}).items():
            props += ["-p", "Environment=%s=%s" % (k, v)]
        return subprocess.run(self._nsenter() + ["systemd-run", "--wait", "--pipe", "--quiet"] + props + list(argv),
                              input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)

    def shell(self, user, script, input=None, timeout=120):
        return self.login(user, ["/bin/bash", "-c", script], input=input, timeout=timeout)

    def hold_session(self, user):
        """A login session that stays open (as a logged-in user's would), so the
        user manager and the agent live on between the short command sessions."""
        unit = "holder-%s" % user
        self.exec(["systemd-run", "--unit", unit, "-p", "PAMName=login", "-p", "User=" + user,
                   "-p", "Environment=XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user",
                   "sleep", "infinity"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = self.exec(["systemctl", "is-active", "user@%d.service" % self.uid(user)], check=False)
            if r.stdout.strip() == "active":
                return
            time.sleep(0.1)
        raise BootError("user@%d.service did not start for the held session" % self.uid(user))

    def uid(self, user):
        return int(self.exec(["id", "-u", user]).stdout)

    def journal(self, user_unit):
        """The agent's lines from the container's real journal, read as root."""
        return self.exec(["journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_USER_UNIT=" + user_unit],
                         check=False).stdout

"""A test user with a real systemd --user manager, the freshly built puddle
and puddle-agent, and the agent's real units and D-Bus activation file
installed where that manager and that user bus find them."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from puddle_harness import Skip, SystemBus, UserSession, require_root, wait_until  # noqa: E402,F401

BUILD = os.environ.get("PUDDLE_BUILD_ROOT", "")
SOURCE = os.environ.get("PUDDLE_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
PASSPHRASE = "integration passphrase"
CONFIG = "[kdf]\nopslimit = 1\nmemlimit_kib = 8192\n[agent]\nexit_idle_seconds = 3\n"
PY = "/usr/bin/python3"


class AgentSession:
    """Wraps a UserSession with puddle installed for that user."""

    def __init__(self, session):
        self.s = session
        self.bindir = os.path.join(session.home, ".local", "lib", "puddle-test")
        self.rt = session.runtime_dir
        self.sock_path = os.path.join(self.rt, "puddle", "agent.sock")
        self.ssh_sock_path = os.path.join(self.rt, "puddle", "ssh-agent.sock")
        self.monitor = None
        self.signals = []

    def install(self):
        if os.environ.get("PUDDLE_BOOTED"):
            return self.use_installed()
        s = self.s
        # Copies the user can execute wherever the build tree lives.
        os.makedirs(self.bindir, exist_ok=True)
        for name in ("puddle", "puddle-agent", "puddle-pair"):
            shutil.copy2(os.path.join(BUILD, "src", name), os.path.join(self.bindir, name))
        for f in ("sock_client.py", "bus_client.py", "burst_client.py"):
            shutil.copy2(os.path.join(HERE, f), os.path.join(self.bindir, f))
        subprocess.run(["chown", "-R", f"{s.uid}:{s.gid}", os.path.join(s.home, ".local")], check=True)
        agent = os.path.join(self.bindir, "puddle-agent")
        # The built units name the install path; point them at our copy.
        with open(os.path.join(BUILD, "units", "puddle-agent.service")) as f:
            service = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + agent, f.read())
        assert "ExecStart=" + agent in service, "the unit has no ExecStart= line"
        with open(os.path.join(SOURCE, "units", "puddle-agent.socket")) as f:
            socket_unit = f.read()
        with open(os.path.join(SOURCE, "units", "puddle-agent-ssh.socket")) as f:
            ssh_socket_unit = f.read()
        with open(os.path.join(BUILD, "dbus", "org.puddle.Agent1.service")) as f:
            bus_service = re.sub(r"(?m)^Exec=\S+", "Exec=" + agent, f.read())
        s.write_file(".config/systemd/user/puddle-agent.service", service)
        with open(os.path.join(BUILD, "units", "puddle-pair.service")) as f:
            pair_service = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + os.path.join(self.bindir, "puddle-pair"),
                                  f.read())
        with open(os.path.join(SOURCE, "units", "puddle-pair.socket")) as f:
            s.write_file(".config/systemd/user/puddle-pair.socket", f.read())
        s.write_file(".config/systemd/user/puddle-pair.service", pair_service)
        s.write_file(".config/systemd/user/puddle-agent.socket", socket_unit)
        s.write_file(".config/systemd/user/puddle-agent-ssh.socket", ssh_socket_unit)
        s.write_file(".local/share/dbus-1/services/org.puddle.Agent1.service", bus_service)
        s.write_file(".config/puddle/puddle.toml", CONFIG)
        s.systemctl("daemon-reload")
        s.run(["busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
               "org.freedesktop.DBus", "ReloadConfig"], check=True)
        s.systemctl("start", "puddle-agent.socket", "puddle-agent-ssh.socket")
        self.start_monitor()

    def use_installed(self):
        """Under tests/boot the project is installed in the booted system (/usr,
        sockets enabled for all users): use it as a user gets it, with no unit
        of our own. bindir then only points at the installed programs."""
        s = self.s
        os.makedirs(self.bindir, exist_ok=True)
        for name, path in (("puddle", "/usr/bin/puddle"), ("puddle-agent", "/usr/libexec/puddle/puddle-agent"),
                           ("puddle-pair", "/usr/libexec/puddle/puddle-pair")):
            assert os.path.exists(path), path + " is not installed"
            os.symlink(path, os.path.join(self.bindir, name))
        for f in ("sock_client.py", "bus_client.py", "burst_client.py"):
            shutil.copy2(os.path.join(HERE, f), os.path.join(self.bindir, f))
        subprocess.run(["chown", "-R", "-h", f"{s.uid}:{s.gid}", os.path.join(s.home, ".local")], check=True)
        s.write_file(".config/puddle/puddle.toml", CONFIG)
        s.systemctl("daemon-reload")
        r = s.systemctl("is-active", "puddle-agent.socket", "puddle-agent-ssh.socket", check=False)
        assert r.stdout.split() == ["active", "active"], "the login did not bring the agent sockets: " + r.stdout
        self.start_monitor()

    def start_monitor(self):
        self.monitor = self.s.popen(
            ["dbus-monitor", "--session", "type='signal',interface='org.puddle.Agent1',member='Locked'"],
            stdout=subprocess.PIPE, text=True, bufsize=1)

        def pump():
            for line in self.monitor.stdout:
                line = line.strip()
                if line.startswith('string "'):
                    self.signals.append(line[len('string "'):-1])
        threading.Thread(target=pump, daemon=True).start()
        time.sleep(0.3)  # let the match rule reach the bus

    def wait_signal(self, reason, timeout=10):
        wait_until(lambda: reason in self.signals, timeout, what=f"Locked({reason}) signal")

    # ---- running puddle as the user

    def puddle(self, *args, passphrases=None, input=None, timeout=60):
        return self.s.run_with_passphrases([os.path.join(self.bindir, "puddle"), *args], passphrases, input=input,
                                           timeout=timeout)

    def init(self):
        p = self.puddle("init", "--passphrase-fd", "FD", passphrases=[PASSPHRASE])
        assert p.returncode == 0, p.stderr
        return self.pubkey()

    def unlock(self, *extra):
        return self.puddle("unlock", "--passphrase-fd", "FD", *extra, passphrases=[PASSPHRASE])

    def pubkey(self):
        with open(os.path.join(self.s.home, ".puddle", "identity.pub")) as f:
            return f.read().strip()

    def sock(self, *lines, raw=None):
        """Requests over agent.sock as the user; returns the list of replies."""
        args = [PY, os.path.join(self.bindir, "sock_client.py")]
        data = raw if raw is not None else ("".join(l + "\n" for l in lines)).encode()
        if raw is not None:
            args.append("--raw")
        p = self.s.run(args, input=data, timeout=30)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def bus(self, *args):
        p = self.s.run([PY, os.path.join(self.bindir, "bus_client.py"), *args], timeout=60)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def bus_unlock(self, idle_usec, watch_pid=0, passphrase=PASSPHRASE):
        path = self.s.write_file(".passfile", passphrase + "\n", mode=0o600)
        try:
            return self.bus("unlock", path, str(idle_usec), str(watch_pid))
        finally:
            os.unlink(path)

    def agent_pid(self):
        out = self.s.systemctl("show", "-p", "MainPID", "--value", "puddle-agent.service").stdout.strip()
        return int(out or 0)

    def agent_active(self):
        return self.s.systemctl("is-active", "puddle-agent.service", check=False).stdout.strip() == "active"

    def stop_agent(self):
        self.puddle("lock")
        self.s.systemctl("stop", "puddle-agent.service", check=False)

    def state_file(self, name):
        return os.path.join(self.s.home, ".puddle", name)


def enter_user_session(prefix):
    """A started UserSession (the caller exits it), or unittest.SkipTest
    ("SKIP: why") where this machine cannot run one."""
    try:
        require_root()
        s = UserSession(name_prefix=prefix)
        s.__enter__()
        return s
    except Skip as e:
        raise unittest.SkipTest(f"SKIP: {e}")


class AgentTestCase(unittest.TestCase):
    """One user manager for the whole class; each test starts from a locked
    agent. A class with `initialize = False` starts without an identity."""

    initialize = True

    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise RuntimeError("PUDDLE_BUILD_ROOT must name the meson build directory")
        cls._session = enter_user_session("pda")
        try:
            cls.a = AgentSession(cls._session)
            cls.a.install()
            cls.pub = cls.a.init() if cls.initialize else None
        except BaseException:
            cls._session.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.a.monitor:
            cls.a.monitor.kill()
        cls._session.__exit__(None, None, None)

    def setUp(self):
        self.a.puddle("lock")
        self.a.signals.clear()

    def journal(self):
        return self._session.journal(unit="puddle-agent.service")


class PolkitAgentTestCase(unittest.TestCase):
    """A system bus with polkitd (the test's own rules can be added with
    sysbus.add_rule), one user session and its agent with an identity, for
    the whole class. `prefix` names the throwaway user."""

    prefix = "pdp"

    @classmethod
    def setUpClass(cls):
        try:
            require_root()
            cls.sysbus = SystemBus()
            cls.sysbus.__enter__()
        except Skip as e:
            raise unittest.SkipTest(f"SKIP: {e}")
        try:
            cls.sysbus.install_action_file(os.path.join(SOURCE, "polkit", "org.puddle.policy"))
            cls.session = UserSession(name_prefix=cls.prefix)
            cls.session.__enter__()
        except BaseException:
            cls.sysbus.__exit__(None, None, None)
            raise
        try:
            cls.a = AgentSession(cls.session)
            cls.a.install()
            cls.pub = cls.a.init()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "a", None) and cls.a.monitor:
            cls.a.monitor.kill()
        cls.session.__exit__(None, None, None)
        cls.sysbus.__exit__(None, None, None)

    def setUp(self):
        self.a.puddle("lock")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def main():
    """unittest, with meson's exit codes: 77 (skipped) when every test was
    skipped because a component cannot start here."""
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    r = prog.result
    if r.failures or r.errors:
        sys.exit(1)
    # A class that skips in setUpClass counts as one skip and no test run.
    if r.skipped and len(r.skipped) >= r.testsRun:
        print("SKIP: " + r.skipped[0][1])
        sys.exit(77)
    sys.exit(0)

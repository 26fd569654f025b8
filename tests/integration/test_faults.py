"""Fault injection (issue 9): SIGKILL at random instants of

- `puddle rekey` on the founder: the CLI (the agent finishes or not on its
  own), and the agent itself (MainPID) while it rotates -- the real torn-state
  risk;
- `puddle join` on a second host (network namespace): the joiner;
- `puddle rekey --from` on that second host, a member: the member.

After every kill the next puddle command repairs, and then: the identity
files unwrap (python3-nacl, an independent reader) to the old key or the new
one, with that key's passphrase; the rotation log is a chain of records that
all verify, from the founding key to the key held (a record for a key that is
not held and has no successor would be a lost key); a joiner holds none of
the identity files or all three, byte-identical to the founder's; a member
holds the old key or the founder's current files. Nothing is left behind
(journal, temporaries), and the identity is usable (unlock + sign, or a
retried join).

Runs PUDDLE_FAULT_RUNS kills of each of the four kinds (default 20);
PUDDLE_FAULT_SEED repeats the random instants."""
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import nacl.exceptions
import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import PASSPHRASE, AgentSession, b64, enter_user_session, main, wait_until  # noqa: E402
from netns import NetNs  # noqa: E402
import nacl_unwrap  # noqa: E402

RUNS = int(os.environ.get("PUDDLE_FAULT_RUNS", "20"))
SEED = int(os.environ.get("PUDDLE_FAULT_SEED", "0")) or random.randrange(1, 1 << 30)
PORT = 15312
CALIBRATION = 3  # uninterrupted runs timed before each kind; the kills spread over the median
CONFIG = ("[kdf]\nopslimit = 1\nmemlimit_kib = 8192\n[agent]\nexit_idle_seconds = 60\n"
          f"[pair]\nport = {PORT}\n")
IDENTITY = ("identity.wrapped", "identity.salt", "identity.pub")
STATEMENT = "puddle-statement-rekey-v1\n{old}\n{new}\n{at}\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def verify_key(pub):
    return nacl.signing.VerifyKey(bytes.fromhex(pub[len("ed25519:"):]))


def leftovers(state):
    return sorted(n for n in os.listdir(state) if n.startswith(".tmp-") or n == "identity.journal")


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid, start):
    """pid is still the process that started at `start`, and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == start and fields[0] != "Z"


def kill_delay(rng, duration):
    """Half of the instants anywhere in (and a little past) an uninterrupted
    run, half in its last part, where the files are written."""
    if rng.random() < 0.5:
        return rng.uniform(0, duration * 1.2)
    return rng.uniform(duration * 0.5, duration * 1.05)


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.session = enter_user_session("pdf")
        try:
            cls.ns = NetNs(prefix="pdfn")
            cls.ns.__enter__()
            cls.a = AgentSession(cls.session)
            cls.a.install()
            s = cls.session
            s.write_file(".config/puddle/puddle.toml", CONFIG)
            # The agent is killed and restarted hundreds of times.
            s.write_file(".config/systemd/user/puddle-agent.service.d/50-faults.conf",
                         "[Unit]\nStartLimitIntervalSec=0\n")
            s.write_file(".config/systemd/user/puddle-agent.socket.d/50-faults.conf",
                         "[Socket]\nTriggerLimitIntervalSec=0\n")
            s.write_file(".config/systemd/user/puddle-pair.service.d/50-faults.conf",
                         "[Unit]\nStartLimitIntervalSec=0\n")
            s.write_file(".config/systemd/user/puddle-pair.socket.d/50-faults.conf",
                         "[Socket]\nTriggerLimitIntervalSec=0\n")
            s.systemctl("daemon-reload")
            cls.founding = cls.a.init()
            cls.passphrase_of = {cls.founding: PASSPHRASE}
            cls.generation = 0
            cls.tmp = tempfile.mkdtemp(prefix="puddle-faults-")
            os.chmod(cls.tmp, 0o755)
            cls.rng = random.Random(SEED)
            cls.member = None
            print(f"\nseed {SEED} (PUDDLE_FAULT_SEED to repeat), {RUNS} runs per kind", file=sys.stderr)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "a", None) and cls.a.monitor:
            cls.a.monitor.kill()
        if getattr(cls, "ns", None):
            cls.ns.__exit__(None, None, None)
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.session.__exit__(None, None, None)

    # ---- founder helpers

    def state(self, name=""):
        return os.path.join(self.session.home, ".puddle", name)

    def founder_pub(self):
        return read(self.state("identity.pub")).decode().strip()

    def founder_pass(self):
        pub = self.founder_pub()
        if pub not in self.passphrase_of:
            self.skipTest(f"an earlier failure left the founder with {pub}, of unknown passphrase")
        return self.passphrase_of[pub]

    def unlocked(self):
        reply = self.a.sock("STATUS")[0]
        return reply.startswith("OK ") and json.loads(reply[3:])["unlocked"]

    def ensure_unlocked(self):
        if not self.unlocked():
            p = self.a.puddle("unlock", "--no-watch", "--passphrase-fd", "FD", passphrases=[self.founder_pass()])
            self.assertEqual(p.returncode, 0, p.stderr + self.session.journal(unit="puddle-agent.service")[-3000:])

    def spawn_rekey(self, old_pass, new_pass):
        r, w = os.pipe()
        os.write(w, f"{old_pass}\n{new_pass}\n".encode())
        os.close(w)
        p = self.session.popen([os.path.join(self.a.bindir, "puddle"), "rekey", "--passphrase-fd", str(r),
                                "--new-passphrase-fd", str(r)], pass_fds=(r,), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        os.close(r)
        return p

    def check_log(self, state, current, label):
        """The rotation log is a chain founding -> ... -> current of records
        whose two signatures verify; returns the records."""
        path = os.path.join(state, "retired_puddles.json")
        log = json.loads(read(path)) if os.path.exists(path) else []
        key = self.founding
        olds = set()
        for i, rec in enumerate(log):
            self.assertEqual(rec["v"], 1, label)
            self.assertEqual(rec["old"], key, f"{label}: record {i} does not continue the chain: {log}")
            self.assertNotIn(rec["old"], olds, f"{label}: fork at record {i}")
            olds.add(rec["old"])
            stmt = STATEMENT.format(old=rec["old"], new=rec["new"], at=rec["at"]).encode()
            try:
                verify_key(rec["old"]).verify(stmt, base64.b64decode(rec["sig_old"]))
                verify_key(rec["new"]).verify(stmt, base64.b64decode(rec["sig_new"]))
            except nacl.exceptions.BadSignatureError:
                self.fail(f"{label}: record {i} does not verify: {rec}")
            key = rec["new"]
        self.assertEqual(key, current, f"{label}: the log leads to {key}, the envoy holds {current} "
                                       f"({len(log)} records)")
        return log

    def check_unwraps(self, state, pub, passphrase, label):
        try:
            nacl_unwrap.unwrap(read(os.path.join(state, "identity.wrapped")),
                               read(os.path.join(state, "identity.salt")),
                               read(os.path.join(state, "identity.pub")).decode(), passphrase.encode(),
                               home=os.path.dirname(os.path.abspath(state)))
        except Exception as e:  # noqa: BLE001
            self.fail(f"{label}: {pub} does not unwrap with its passphrase: {e!r}")

    def check_sign_after(self, label):
        """Whatever the agent serves now is signed by the key identity.pub names."""
        data = b"after " + label.encode()
        reply = self.a.sock("SIGN " + b64(data))[0]
        if reply.startswith("OK "):
            try:
                verify_key(self.founder_pub()).verify(data, base64.b64decode(reply[3:]))
            except nacl.exceptions.BadSignatureError:
                self.fail(f"{label}: the agent signs with another key than identity.pub {self.founder_pub()}")
            return "signs"
        self.assertTrue(reply.startswith("ERR locked"), f"{label}: {reply}")
        return "locked"

    # ---- the second host

    def new_joiner(self):
        d = tempfile.mkdtemp(prefix="joiner-", dir=self.tmp)
        os.makedirs(os.path.join(d, "config", "puddle"))
        with open(os.path.join(d, "config", "puddle", "puddle.toml"), "w") as f:
            f.write("[kdf]\nopslimit = 1\nmemlimit_kib = 8192\n")
        subprocess.run(["chown", "-R", f"{self.session.uid}:{self.session.gid}", d], check=True)
        os.chmod(d, 0o700)
        return d

    def joiner_argv(self, joiner, *args):
        argv = ["setpriv", f"--reuid={self.session.uid}", f"--regid={self.session.gid}", "--clear-groups",
                "env", "-i", f"HOME={joiner}", f"PUDDLE_HOME={joiner}/state", f"XDG_CONFIG_HOME={joiner}/config",
                "PATH=/usr/bin:/bin", os.path.join(self.a.bindir, "puddle"), *args]
        return self.ns.command(argv, hostname="joiner-host")

    def joiner_spawn(self, joiner, *args, passphrase, code=None):
        """With `code`, its line goes first on the pipe (--code-fd FD --passphrase-fd FD)."""
        r, w = os.pipe()
        os.write(w, ((code + "\n" if code else "") + passphrase + "\n").encode())
        os.close(w)
        args = [str(r) if a == "FD" else a for a in args]
        try:
            return subprocess.Popen(self.joiner_argv(joiner, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, pass_fds=(r,), start_new_session=True)
        finally:
            os.close(r)

    def joiner_run(self, joiner, *args, passphrase=PASSPHRASE, code=None):
        p = self.joiner_spawn(joiner, *args, passphrase=passphrase, code=code)
        out, err = p.communicate(timeout=120)
        return p.returncode, out, err

    def fresh_code(self, verb):
        """A new code from the founder, whatever the last run left behind."""
        self.session.systemctl("stop", "puddle-pair.socket", "puddle-pair.service", check=False)
        self.session.systemctl("reset-failed", "puddle-pair.socket", "puddle-pair.service", check=False)
        for f in ("pair.pending", "pair.result", "rekey.pending", "rekey.result"):
            try:
                os.unlink(self.state(f))
            except FileNotFoundError:
                pass
        p = self.a.puddle(verb)
        self.assertEqual(p.returncode, 0, p.stderr + self.session.journal(unit="puddle-pair.service")[-2000:])
        return re.search(r"code: (\d{4}-\d{4})", p.stdout).group(1)

    def pair_result(self, purpose):
        path = self.state(purpose + ".result")
        if os.path.exists(path):
            try:
                return json.loads(read(path)).get("result", "?")
            except ValueError:
                return "unreadable"
        return "pending" if os.path.exists(self.state(purpose + ".pending")) else "spent-unreported"

    def target(self):
        return f"{self.ns.host_ip}:{PORT}"

    def kill_group(self, p, delay):
        time.sleep(delay)
        finished = p.poll() is not None
        if not finished:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                finished = True
        out, err = p.communicate(timeout=60)
        return finished, out, err

    # ---- the tests (in this order: rekey, join, rekey --from)

    def test_1_rekey_killed_cli_and_agent(self):
        self.ensure_unlocked()
        # An uninterrupted rekey, to spread the kill instants over one.
        durations = []
        for k in range(CALIBRATION):
            t = time.monotonic()
            p = self.spawn_rekey(self.founder_pass(), f"pass-{self.generation + 1}")
            out, err = p.communicate(timeout=60)
            durations.append(time.monotonic() - t)
            self.assertEqual(p.returncode, 0, err)
            self.__class__.generation += 1
            self.passphrase_of[self.founder_pub()] = f"pass-{self.generation}"
        duration = sorted(durations)[len(durations) // 2]
        self.check_log(self.state(), self.founder_pub(), "calibration")
        outcomes = {}
        for victim in ("cli", "agent"):
            out_v = outcomes[victim] = {"old": 0, "new": 0, "rolled forward": 0, "finished first": 0,
                                         "agent signs after": 0, "agent locked after": 0}
            for i in range(RUNS):
                label = f"rekey/{victim} run {i}"
                self.ensure_unlocked()
                old, old_pass = self.founder_pub(), self.founder_pass()
                new_pass = f"pass-{self.generation + 1}"
                agent = self.a.agent_pid()
                self.assertGreater(agent, 0, label)
                agent_start = start_time(agent)
                p = self.spawn_rekey(old_pass, new_pass)
                time.sleep(kill_delay(self.rng, duration))
                finished = p.poll() is not None
                if not finished:
                    os.kill(agent if victim == "agent" else p.pid, signal.SIGKILL)
                out_v["finished first"] += finished
                try:
                    p.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    self.fail(f"{label}: the CLI hangs after the kill")
                if victim == "cli":
                    # The agent finishes (or never got) the call: the next bus
                    # call is answered only after it (one event loop).
                    self.a.bus("props")
                if victim == "agent" and not finished:
                    if not wait_until(lambda: not alive(agent, agent_start), 20):
                        self.fail(f"{label}: the killed agent {agent} is still there: "
                                  + read(f"/proc/{agent}/status").decode(errors="replace")
                                  + read(f"/proc/{agent}/stack").decode(errors="replace"))
                    self.session.systemctl("reset-failed", "puddle-agent.service", check=False)
                if "identity.journal" in os.listdir(self.state()):
                    out_v["rolled forward"] += 1
                # The next command repairs.
                q = self.a.puddle("pubkey")
                self.assertEqual(q.returncode, 0, f"{label}: {q.stderr}")
                pub = self.founder_pub()
                self.assertEqual(q.stdout.strip(), pub, label)
                self.assertEqual(leftovers(self.state()), [], label)
                log = self.check_log(self.state(), pub, label)
                if pub == old:
                    self.check_unwraps(self.state(), pub, old_pass, label)
                    out_v["old"] += 1
                else:
                    self.assertNotIn(pub, self.passphrase_of, f"{label}: back to an older key")
                    self.check_unwraps(self.state(), pub, new_pass, label)
                    self.assertEqual((log[-1]["old"], log[-1]["new"]), (old, pub), label)
                    self.passphrase_of[pub] = new_pass
                    self.__class__.generation += 1
                    out_v["new"] += 1
                # The agent (restarted, if it was the victim) never signs with a retired key.
                out_v["agent " + self.check_sign_after(label) + " after"] += 1
                # And the identity is usable: unlock with the passphrase of the key held, sign.
                self.ensure_unlocked()
                self.assertEqual(self.check_sign_after(label), "signs", label)
        for victim, o in outcomes.items():
            print(f"\nrekey, {RUNS} SIGKILLs of the {victim} over a {duration * 1000:.0f} ms run: "
                  + ", ".join(f"{v} {k}" for k, v in o.items()), file=sys.stderr)
        self.assertGreater(sum(o["new"] for o in outcomes.values()), 0)

    def test_2_join_killed(self):
        # Uninterrupted joins, to time one; the first joiner stays a member for test 3.
        durations = []
        for k in range(CALIBRATION):
            code = self.fresh_code("pair")
            joiner = self.new_joiner()
            t = time.monotonic()
            rc, out, err = self.joiner_run(joiner, "join", "--from", self.target(), "--code-fd", "FD",
                                           "--passphrase-fd", "FD", passphrase=self.founder_pass(), code=code)
            durations.append(time.monotonic() - t)
            self.assertEqual(rc, 0, err + self.session.journal(unit="puddle-pair.service")[-2000:])
            if k == 0:
                self.__class__.member = joiner
            else:
                shutil.rmtree(joiner, ignore_errors=True)
        duration = sorted(durations)[len(durations) // 2]
        o = {"empty": 0, "member": 0, "finished first": 0, "torn before repair": 0, "rolled forward": 0,
             "retried join ok": 0}
        founder_results = {}
        for i in range(RUNS):
            label = f"join run {i}"
            code = self.fresh_code("pair")
            joiner = self.new_joiner()
            state = os.path.join(joiner, "state")
            p = self.joiner_spawn(joiner, "join", "--from", self.target(), "--code-fd", "FD", "--passphrase-fd", "FD",
                                  passphrase=self.founder_pass(), code=code)
            finished, _, err = self.kill_group(p, kill_delay(self.rng, duration))
            o["finished first"] += finished
            if finished:
                self.assertEqual(p.returncode, 0, f"{label}: {err}")
            # Founder side: claimed, burned (spent by the PAKE message, even if
            # the joiner never acknowledged), or still pending (killed before).
            res = self.pair_result("pair")
            if os.path.isdir(state):
                present = [f for f in IDENTITY if os.path.exists(os.path.join(state, f))]
                if present and len(present) < 3:
                    o["torn before repair"] += 1
                if "identity.journal" in os.listdir(state):
                    o["rolled forward"] += 1
            rc, out, err = self.joiner_run(joiner, "pubkey")
            self.assertIn(rc, (0, 4), f"{label}: {err}")
            present = [f for f in IDENTITY if os.path.exists(os.path.join(state, f))] if os.path.isdir(state) else []
            if os.path.isdir(state):
                self.assertEqual(leftovers(state), [], label)
            if present:
                self.assertEqual(len(present), 3, f"{label}: only {present} after the repair")
                self.assertEqual(rc, 0, label)
                # Alike on both, once out of each machine's envoy seal.
                self.assertEqual(nacl_unwrap.portable_identity(state), nacl_unwrap.portable_identity(self.state()),
                                 label)
                self.check_log(state, self.founder_pub(), label)
                self.check_unwraps(state, self.founder_pub(), self.founder_pass(), label)
                # The key went out: the code must be spent (single use).
                self.assertFalse(os.path.exists(self.state("pair.pending")), f"{label}: the code is still valid")
                # The founder knows it: claimed (and recorded), or told that
                # the payload went out unacknowledged; never "burned".
                wait_until(lambda: os.path.exists(self.state("pair.result")), 15, what=f"{label}: pair.result")
                res = self.pair_result("pair")
                self.assertIn(res, ("claimed", "unacknowledged"), f"{label}: the joiner holds the key")
                if res == "claimed":
                    host = json.loads(read(self.state("pair.result")))["host"]
                    members = json.loads(read(self.state("members.json")))["members"]
                    self.assertIn(host, [m["host"] for m in members], f"{label}: claimed but not in members.json")
                o["member"] += 1
                founder_results["member/" + res] = founder_results.get("member/" + res, 0) + 1
            else:
                self.assertEqual(rc, 4, f"{label}: {out} {err}")
                # The joiner acknowledges only after writing: nothing written, nothing claimed.
                self.assertNotEqual(res, "claimed", label)
                o["empty"] += 1
                founder_results["empty/" + res] = founder_results.get("empty/" + res, 0) + 1
                # Nothing lost: the same envoy joins with a new code.
                code = self.fresh_code("pair")
                rc, out, err = self.joiner_run(joiner, "join", "--from", self.target(), "--code-fd", "FD",
                                               "--passphrase-fd", "FD", passphrase=self.founder_pass(), code=code)
                self.assertEqual(rc, 0, f"{label}: the retried join fails: {err}")
                # Alike on both, once out of each machine's envoy seal.
                self.assertEqual(nacl_unwrap.portable_identity(state), nacl_unwrap.portable_identity(self.state()),
                                 label)
                o["retried join ok"] += 1
            shutil.rmtree(joiner, ignore_errors=True)
        print(f"\njoin, {RUNS} SIGKILLs of the joiner over a {duration * 1000:.0f} ms run: "
              + ", ".join(f"{v} {k}" for k, v in o.items()) + f"; joiner/founder's code afterwards: {founder_results}",
              file=sys.stderr)

    def test_3_rekey_from_killed(self):
        member = self.member
        if member is None:
            self.skipTest("needs the member that test_2 joins")
        mstate = os.path.join(member, "state")

        def member_pub():
            return read(os.path.join(mstate, "identity.pub")).decode().strip()

        def rotate_founder():
            self.ensure_unlocked()
            new_pass = f"pass-{self.generation + 1}"
            p = self.spawn_rekey(self.founder_pass(), new_pass)
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            self.passphrase_of[self.founder_pub()] = new_pass
            self.__class__.generation += 1
            return self.fresh_code("rekey-pair")

        def rekey_from(code):
            return self.joiner_spawn(member, "rekey", "--from", self.target(), "--code-fd", "FD", "--passphrase-fd",
                                     "FD", passphrase=self.founder_pass(), code=code)

        # Uninterrupted ones, to time one.
        durations = []
        for k in range(CALIBRATION):
            code = rotate_founder()
            t = time.monotonic()
            p = rekey_from(code)
            _, err = p.communicate(timeout=120)
            durations.append(time.monotonic() - t)
            self.assertEqual(p.returncode, 0, err + self.session.journal(unit="puddle-pair.service")[-2000:])
            self.assertEqual(member_pub(), self.founder_pub())
        duration = sorted(durations)[len(durations) // 2]
        o = {"old": 0, "new": 0, "finished first": 0, "rolled forward": 0, "jumped several rotations": 0}
        founder_results = {}
        for i in range(RUNS):
            label = f"rekey --from run {i}"
            held = member_pub()
            code = rotate_founder()
            p = rekey_from(code)
            finished, _, err = self.kill_group(p, kill_delay(self.rng, duration))
            o["finished first"] += finished
            if finished:
                self.assertEqual(p.returncode, 0, f"{label}: {err}")
            res = self.pair_result("rekey")
            if "identity.journal" in os.listdir(mstate):
                o["rolled forward"] += 1
            rc, out, err = self.joiner_run(member, "pubkey")
            self.assertEqual(rc, 0, f"{label}: {err}")
            pub = member_pub()
            self.assertEqual(out.strip(), pub, label)
            self.assertEqual(leftovers(mstate), [], label)
            log = self.check_log(mstate, pub, label)
            self.check_unwraps(mstate, pub, self.passphrase_of[pub], label)
            if pub == held:
                o["old"] += 1
                founder_results["old/" + res] = founder_results.get("old/" + res, 0) + 1
            else:
                self.assertFalse(os.path.exists(self.state("rekey.pending")), f"{label}: the code is still valid")
                founder_results["new/" + res] = founder_results.get("new/" + res, 0) + 1
                self.assertEqual(pub, self.founder_pub(), f"{label}: neither the old key nor the founder's")
                self.assertEqual(nacl_unwrap.portable_identity(mstate), nacl_unwrap.portable_identity(self.state()),
                                 label)
                self.assertEqual(log, json.loads(read(self.state("retired_puddles.json"))), label)
                o["new"] += 1
                start = [k for k, rec in enumerate(log) if rec["old"] == held]
                self.assertEqual(len(start), 1, f"{label}: no record leaves the key the member held")
                if len(log) - start[0] > 1:
                    o["jumped several rotations"] += 1
        # The member catches up in the end, whatever it missed.
        code = self.fresh_code("rekey-pair")
        p = rekey_from(code)
        _, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(member_pub(), self.founder_pub())
        self.check_log(mstate, member_pub(), "catch-up")
        print(f"\nrekey --from, {RUNS} SIGKILLs of the member over a {duration * 1000:.0f} ms run: "
              + ", ".join(f"{v} {k}" for k, v in o.items()) + f"; member/founder's code afterwards: {founder_results}",
              file=sys.stderr)


if __name__ == "__main__":
    main()

"""The agent under load and under hostile traffic (issue 9):

- 32 concurrent clients x 3000 signatures on agent.sock, each client its own
  process and persistent connection as the user: zero errors, every
  signature verifies, and the agent's resident memory grows by less than
  1 MiB between a warm-up and the end;
- the record under load (issue 26): 64 clients x 10,000 signatures (2,000
  on the lone manager, whose journal is a stand-in), and every signature
  has its journal entry, counted, or is counted by the agent as not written
  (HealthReasons); under the booted systemd, with the real journald (its
  rate limit lifted for the test: that limit is journald's policy,
  documented in puddle-agent(1) RECORD), none may be missing;
- 300 connections of random or half-structured bytes (up to 100 kB each) on
  agent.sock and on ssh-agent.sock: the agent keeps its PID and serves the
  next good request on both doors.

PUDDLE_LOAD_CLIENTS / PUDDLE_LOAD_COUNT / PUDDLE_RECORD_CLIENTS /
PUDDLE_RECORD_COUNT / PUDDLE_FUZZ_CONNECTIONS change the sizes, PUDDLE_LOAD_SEED the random choices."""
import base64
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import HERE, PY, AgentTestCase, b64, main  # noqa: E402

CLIENTS = int(os.environ.get("PUDDLE_LOAD_CLIENTS", "32"))
COUNT = int(os.environ.get("PUDDLE_LOAD_COUNT", "3000"))
BOOTED = bool(os.environ.get("PUDDLE_BOOTED"))
RECORD_CLIENTS = int(os.environ.get("PUDDLE_RECORD_CLIENTS", "64"))
# The harness's journal stand-in (a Python process) cannot keep up with the
# agent, so the lone run checks the accounting on a fifth of the load; the
# booted run, with the real journald, takes all of it.
RECORD_COUNT = int(os.environ.get("PUDDLE_RECORD_COUNT", "10000" if BOOTED else "2000"))
CONNECTIONS = int(os.environ.get("PUDDLE_FUZZ_CONNECTIONS", "300"))
SIGNED_ID = "771c1db3bed348e4a798a749505f6e73"
JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/zz-puddle-test-load.conf"
NOT_WRITTEN = re.compile(r"^(\d+) entries of the usage record could not be written")
SEED = int(os.environ.get("PUDDLE_LOAD_SEED", "0")) or random.randrange(1, 1 << 30)
# The agent hands freed memory back to the system after a quiet second
# (malloc_trim, see Manager::on_trim_timer; large buffers are mmapped, see
# agent/main.cpp): read its RSS after that.
QUIET = 1.6
# ...but on a busy machine the timer can fire late: a reading over the bound
# is retaken for up to this long. A leak stays up however long one waits.
SETTLE = 6.0
HELPERS = ("load_client.py", "fuzz_client.py", "ssh_probe.py")


def verify(pub, data, sig):
    nacl.signing.VerifyKey(bytes.fromhex(pub[len("ed25519:"):])).verify(data, sig)


class LoadCase(AgentTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for f in HELPERS:
            dest = os.path.join(cls.a.bindir, f)
            shutil.copy2(os.path.join(HERE, f), dest)
            os.chown(dest, cls._session.uid, cls._session.gid)
        # The agent must stay the same process for the whole measurement.
        cls._session.write_file(".config/puddle/puddle.toml",
                                "[kdf]\nopslimit = 1\nmemlimit_kib = 8192\n[agent]\nexit_idle_seconds = 600\n")
        print(f"\nseed {SEED} (PUDDLE_LOAD_SEED to repeat)", file=sys.stderr)

    def helper(self, name, *args, timeout=900):
        p = self._session.run([PY, os.path.join(self.a.bindir, name), *map(str, args)], timeout=timeout)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def rss_kib(self, pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        self.fail(f"no VmRSS for {pid}")

    def heap_kib(self, pid):
        """Resident size of the brk heap (from smaps), to tell heap growth from other mappings."""
        total, in_heap = 0, False
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                    in_heap = fields[-1] == "[heap]"
                elif in_heap and fields[0] == "Rss:":
                    total += int(fields[1])
        return total

    def record_drained(self, pid, limit=120):
        """Waits until the agent's usage record stops reaching the journal:
        it writes behind its replies, and a slow journal (the lone harness's
        stand-in) leaves a backlog that holds memory until it drains."""
        def size():
            if BOOTED:
                p = subprocess.run(["journalctl", "--no-pager", "-q", "-o", "cat", "_PID=%d" % pid],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)
                return len(p.stdout)
            return len(self._session.journal())
        last, end = -1, time.monotonic() + limit
        while time.monotonic() < end:
            now = size()
            if now == last:
                return
            last = now
            time.sleep(1)

    def settled_kib(self, pid, before, bound):
        """(RSS, [heap]) once the record has drained and the agent has had
        its quiet second to trim: the lowest reading within SETTLE seconds,
        or the first one under the bound."""
        self.record_drained(pid)
        time.sleep(QUIET)
        best = (self.rss_kib(pid), self.heap_kib(pid))
        deadline = time.monotonic() + SETTLE
        while best[0] - before >= bound and time.monotonic() < deadline:
            time.sleep(0.25)
            best = min(best, (self.rss_kib(pid), self.heap_kib(pid)))
        return best

    def good_requests_on_both_doors(self, tag):
        data = b"after " + tag.encode()
        reply = self.a.sock("SIGN " + b64(data))[0]
        self.assertTrue(reply.startswith("OK "), reply)
        verify(self.pub, data, base64.b64decode(reply[3:]))
        r = self.helper("ssh_probe.py", self.a.ssh_sock_path, data.hex(), timeout=60)
        self.assertEqual(r["keys"], [self.pub[len("ed25519:"):]], r)
        self.assertEqual(r["reply_type"], 14, r)
        verify(self.pub, data, bytes.fromhex(r["sig"]))


class Load(LoadCase):
    def load_round(self, seed):
        total = CLIENTS * COUNT
        t = time.monotonic()
        r = self.helper("load_client.py", "--pub", self.pub, "--clients", CLIENTS, "--count", COUNT, "--seed", seed)
        elapsed = time.monotonic() - t
        self.assertEqual(r["errors"], 0, r["first_errors"])
        self.assertEqual(r["ok"], total, r["per_client_ok"])
        self.assertEqual(r["verified"], total)
        return r, elapsed

    def test_concurrent_clients_sign_without_errors_or_growth(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        pid = self.a.agent_pid()
        self.assertGreater(pid, 0)
        # Warm-up: the same shape of traffic (every client, pipelined batches,
        # the large messages), twice 100 signatures per client.
        for k in range(2):
            warm = self.helper("load_client.py", "--pub", self.pub, "--clients", CLIENTS, "--count", 100,
                               "--seed", SEED + 1 + k)
            self.assertEqual(warm["errors"], 0, warm["first_errors"])
        self.record_drained(pid)
        time.sleep(QUIET)
        before, heap_before = self.rss_kib(pid), self.heap_kib(pid)
        bound = 1024
        r, elapsed = self.load_round(SEED)
        samples = [self.settled_kib(pid, before, bound)]
        total = CLIENTS * COUNT
        print(f"\n{CLIENTS} clients x {COUNT} signatures: {r['ok']} OK, {r['verified']} verified, "
              f"{r['errors']} errors in {r['seconds']:.1f} s ({total / r['seconds']:.0f}/s, {elapsed:.1f} s "
              f"with start-up); agent RSS {before} -> {samples[0][0]} KiB ({samples[0][0] - before:+d} KiB), "
              f"of which [heap] {heap_before} -> {samples[0][1]} KiB", file=sys.stderr)
        # At the peak of this load the agent's heap holds 1-2 MiB of
        # connection buffers; how much of it glibc returns afterwards depends
        # on which chunk ends up at the top of the heap, so one reading
        # carries up to ~1.4 MiB of noise (measured: no growth over 12 rounds,
        # and valgrind finds no leak). A leak of 1 MiB per round raises every
        # later reading; noise does not. So a reading over the bound is
        # confirmed over up to 3 more rounds before it fails.
        # Under AddressSanitizer RSS says nothing (below): no confirming rounds.
        for k in range(0 if os.environ.get("PUDDLE_SANITIZED") else 3):
            if min(x[0] for x in samples) - before < bound:
                break
            self.load_round(SEED + 100 + k)
            samples.append(self.settled_kib(pid, before, bound))
            print(f"  confirming round {k + 1}: RSS {samples[-1][0]} KiB, [heap] {samples[-1][1]} KiB",
                  file=sys.stderr)
        self.assertEqual(self.a.agent_pid(), pid, "the agent restarted under load")
        if os.environ.get("PUDDLE_SANITIZED"):
            # AddressSanitizer keeps freed memory in quarantine (up to 256 MiB):
            # RSS says nothing there. LeakSanitizer checks leaks instead.
            self.good_requests_on_both_doors("load")
            return
        self.assertLess(min(x[0] for x in samples) - before, bound,
                        f"agent RSS grew from {before} KiB to {[x[0] for x in samples]} KiB "
                        f"([heap] {heap_before} -> {[x[1] for x in samples]} KiB)")
        self.good_requests_on_both_doors("load")


class RecordUnderLoad(LoadCase):
    def setUp(self):
        super().setUp()
        if BOOTED:
            # journald's own rate limit (per unit of the system: all of the
            # user's manager) would drop entries it then reports itself.
            os.makedirs(os.path.dirname(JOURNALD_DROPIN), exist_ok=True)
            with open(JOURNALD_DROPIN, "w") as f:
                f.write("[Journal]\nRateLimitBurst=0\n")
            self.addCleanup(self.restart_journald)
            self.addCleanup(os.unlink, JOURNALD_DROPIN)
            self.restart_journald()

    def journald_log(self):
        if not BOOTED:
            return "(the harness's journal stand-in)"
        return subprocess.run(["journalctl", "--no-pager", "-q", "-n", "30", "-u", "systemd-journald.service"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60).stdout

    def restart_journald(self):
        subprocess.run(["systemctl", "restart", "systemd-journald.service"], check=True, timeout=60)

    def entries(self, pid, cursor):
        """Signed entries the agent `pid` wrote (booted: all of them; lone:
        after offset `cursor` of the stand-in's log)."""
        if BOOTED:
            p = subprocess.run(["journalctl", "--no-pager", "-q", "-o", "cat", "_PID=%d" % pid,
                                "MESSAGE_ID=" + SIGNED_ID],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout.count(b"\n")
        return self._session.journal()[cursor:].count("[%d]: signed for " % pid)

    def cursor(self):
        return None if BOOTED else len(self._session.journal())

    def not_written(self):
        for reason in self.a.bus("props")["ok"]["HealthReasons"]:
            m = NOT_WRITTEN.match(reason)
            if m:
                return int(m.group(1))
        return 0

    def test_every_signature_has_its_entry(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        pid = self.a.agent_pid()
        self.assertGreater(pid, 0)
        lost_before = self.not_written()
        cursor = self.cursor()
        before = self.entries(pid, cursor)
        total = RECORD_CLIENTS * RECORD_COUNT
        t = time.monotonic()
        r = self.helper("load_client.py", "--pub", self.pub, "--clients", RECORD_CLIENTS, "--count", RECORD_COUNT,
                        "--seed", SEED + 50, "--no-verify", timeout=1800)
        signing = time.monotonic() - t
        self.assertEqual(r["errors"], 0, r["first_errors"])
        self.assertEqual(r["ok"], total, r["per_client_ok"])
        # The agent writes behind its replies: wait until the count stops
        # moving (or adds up), then every signature is an entry or is counted.
        seen, lost, still = -1, 0, time.monotonic()
        while time.monotonic() - still < 5:
            n, lost = self.entries(pid, cursor) - before, self.not_written() - lost_before
            if n + lost == total:
                seen = n
                break
            if n != seen:
                seen, still = n, time.monotonic()
            time.sleep(1)
        print(f"\n{RECORD_CLIENTS} clients x {RECORD_COUNT} signatures in {signing:.1f} s "
              f"({total / r['seconds']:.0f}/s): {seen} entries in the journal, {lost} counted as not written, "
              f"all in {time.monotonic() - t:.1f} s", file=sys.stderr)
        self.assertEqual(self.a.agent_pid(), pid, "the agent restarted under load")
        self.assertEqual(seen + lost, total, "signatures neither in the journal nor counted as not written; "
                         "journald said:\n" + self.journald_log())
        if BOOTED:
            self.assertEqual(lost, 0, "journald (rate limit lifted) did not take every entry")


class HostileTraffic(LoadCase):
    def fuzz(self, door, path, seed):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        pid = self.a.agent_pid()
        self.assertGreater(pid, 0)
        rss = self.rss_kib(pid)
        r = self.helper("fuzz_client.py", "--door", door, "--path", path, "--connections", CONNECTIONS,
                        "--seed", seed, "--pub", self.pub)
        print(f"\n{door} door, {r['done']} connections, {r['bytes_sent']} bytes in {r['seconds']} s: "
              f"kinds {r['kinds']}, endings {r['endings']}, {r['agent_closed']} closed by the agent, "
              f"{r['timeouts']} left open after 3 s, {r['replies_bytes']} bytes of replies {r['replies']}; "
              f"agent RSS {rss} -> {self.rss_kib(pid) if os.path.exists(f'/proc/{pid}') else '?'} KiB",
              file=sys.stderr)
        self.assertEqual(r["connect_errors"], [], "the agent stopped accepting connections")
        self.assertEqual(r["done"], CONNECTIONS)
        # The traffic reached the parsers and the signing path, not only the peer check.
        if CONNECTIONS >= 100:
            self.assertIn("OK" if door == "line" else "type 14", r["replies"])
        self.assertEqual(self.a.agent_pid(), pid, "the agent died or restarted:\n" + self.journal()[-3000:])
        self.assertTrue(self.a.agent_active())
        self.good_requests_on_both_doors(door)
        self.assertEqual(self.a.agent_pid(), pid)

    def test_random_bytes_on_agent_sock(self):
        self.fuzz("line", self.a.sock_path, SEED + 10)

    def test_random_bytes_on_ssh_agent_sock(self):
        self.fuzz("ssh", self.a.ssh_sock_path, SEED + 20)


if __name__ == "__main__":
    main()

"""rotate-passphrase killed with SIGKILL at random instants, many times: the
identity must always unwrap with the old or the new passphrase after the next
command, the public key never changes, and no temporary file or journal is
left behind. Runs PUDDLE_CRASH_RUNS times (default 150)."""
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import PUDDLE, PuddleCase  # noqa: E402
import nacl_unwrap  # noqa: E402

RUNS = int(os.environ.get("PUDDLE_CRASH_RUNS", "150"))


class CrashDuringRotate(PuddleCase):
    def spawn_rotate(self, old, new):
        r, w = os.pipe()
        os.write(w, f"{old}\n{new}\n".encode())
        os.close(w)
        p = subprocess.Popen([PUDDLE, "rotate-passphrase", "--passphrase-fd", str(r), "--new-passphrase-fd", str(r)],
                             env=self.env, pass_fds=(r,), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(r)
        return p

    def unwraps_with(self, passphrase):
        try:
            nacl_unwrap.unwrap(self.read("identity.wrapped"), self.read("identity.salt"),
                               self.read("identity.pub").decode(), passphrase.encode(), home=self.tmp)
            return True
        except Exception:
            return False

    def test_sigkill_at_random_instants(self):
        self.init("pass-0")
        pub = self.read("identity.pub")
        # Time an uninterrupted run so that kill instants cover all of it.
        t = time.monotonic()
        self.assertEqual(self.spawn_rotate("pass-0", "pass-1").wait(), 0)
        duration = time.monotonic() - t
        current, generation = "pass-1", 1
        rng = random.Random(int(os.environ.get("PUDDLE_CRASH_SEED", "0")) or None)
        outcomes = {"old": 0, "new": 0, "repaired": 0}
        for i in range(RUNS):
            nxt = f"pass-{generation + 1}"
            p = self.spawn_rotate(current, nxt)
            time.sleep(rng.uniform(0, duration * 1.2))
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            if "identity.journal" in os.listdir(self.home):
                outcomes["repaired"] += 1
            # The next command (any command) finishes or discards the change.
            q = self.run_puddle("pubkey")
            self.assertEqual(q.returncode, 0, f"run {i}: {q.stderr!r}")
            self.assertEqual(q.stdout, pub)
            leftovers = [n for n in os.listdir(self.home) if n.startswith(".tmp-") or n == "identity.journal"]
            self.assertEqual(leftovers, [], f"run {i}")
            self.assertEqual(self.read("identity.pub"), pub, f"run {i}")
            if self.unwraps_with(nxt):
                outcomes["new"] += 1
                current, generation = nxt, generation + 1
            else:
                self.assertTrue(self.unwraps_with(current), f"run {i}: unwraps with neither passphrase")
                outcomes["old"] += 1
        print(f"\n{RUNS} kills over a {duration * 1000:.0f} ms run: {outcomes['old']} left the old "
              f"passphrase, {outcomes['new']} the new, {outcomes['repaired']} rolled forward from the journal")
        self.assertGreater(outcomes["old"], 0)
        self.assertGreater(outcomes["new"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)

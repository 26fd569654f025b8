"""Log lines off the journal carry the program's own name (util/log): the
pair listener's say "puddle-pair:", not "puddle-agent:"."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import PuddleCase  # noqa: E402

PAIR = os.environ.get("PUDDLE_PAIR_BIN", "")


class LogName(PuddleCase):
    def test_the_pair_listener_logs_as_puddle_pair(self):
        self.assertTrue(PAIR and os.access(PAIR, os.X_OK), "PUDDLE_PAIR_BIN must name the built puddle-pair")
        self.init()
        # Run by hand with nothing pending: it says so and exits.
        p = subprocess.run([PAIR], env=self.env, capture_output=True, timeout=30, start_new_session=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        # Every line is the listener's own; the last says why it stops. (Under
        # AddressSanitizer a warning comes first: its allocator ignores the
        # malloc arena cap, and the listener says so.)
        lines = p.stderr.decode().splitlines()
        self.assertTrue(lines, p.stderr)
        self.assertTrue(all(l.startswith("puddle-pair: ") for l in lines), lines)
        self.assertEqual(lines[-1], "puddle-pair: nothing pending to claim; stopping")
        if not os.environ.get("PUDDLE_SANITIZED"):
            self.assertEqual(len(lines), 1, lines)


if __name__ == "__main__":
    unittest.main(verbosity=2)

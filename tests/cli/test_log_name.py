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
        self.assertEqual(p.stderr, b"puddle-pair: nothing pending to claim; stopping\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""The envoy secret sealed in a TPM 2.0 (issue 17), with swtpm, Debian's
software TPM, reached through tpm2-tss's swtpm TCTI: the secret is sealed
(no envoy.secret file, identity.wrapped says protection 0x02), the identity
unlocks through it, a different TPM (another swtpm state) refuses it, a TPM
that does not answer is an error naming the TCTI, and [envoy] tpm = "off"
keeps the file. SKIP (exit 77) where swtpm or a TPM-enabled build is missing."""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_common import main, FAST_KDF, PuddleCase, strict_json  # noqa: E402
from swtpm import SwTpm, tpm_support  # noqa: E402

ROTATE = ("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD")


SKIP = tpm_support(os.environ.get("PUDDLE_BIN", ""))


@unittest.skipIf(SKIP, SKIP or "")
class SealedInTpm(PuddleCase):
    def setUp(self):
        super().setUp()
        self.tpm = SwTpm(os.path.join(self.tmp, "tpm-a"))
        self.addCleanup(self.tpm.stop)
        self.use(self.tpm.tcti, "required")

    def use(self, tcti, mode):
        self.write_config(FAST_KDF + f'[envoy]\ntpm = "{mode}"\ntcti = "{tcti}"\n')

    def envoy_dir(self):
        return os.path.join(self.tmp, ".local", "state", "puddle")

    def test_sealed_unlocks_and_another_tpm_refuses(self):
        self.init("pw")
        self.assertEqual(sorted(n for n in os.listdir(self.envoy_dir()) if not n.startswith(".")), ["envoy.tpm"])
        w = self.read("identity.wrapped")
        self.assertEqual((w[:8], w[8]), (b"PUDDLEW2", 2))
        st = strict_json(self.run_puddle("status", "--json").stdout)
        self.assertEqual(st["protection"]["kind"], "envoy-tpm2", st)
        self.assertTrue(st["protection"]["secret_file"].endswith("/envoy.tpm"), st)
        # The key opens through the TPM (rotate-passphrase unwraps it).
        p = self.run_puddle(*ROTATE, passphrases=["pw", "pw2"])
        self.assertEqual(p.returncode, 0, p.stderr)
        # Another TPM: refused, saying so, nothing changed.
        other = SwTpm(os.path.join(self.tmp, "tpm-b"))
        self.addCleanup(other.stop)
        self.use(other.tcti, "auto")
        before = self.snapshot()
        p = self.run_puddle(*ROTATE, passphrases=["pw2", "pw3"])
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(b"this TPM does not load it", p.stderr)
        self.assertIn(b"sealed in another TPM", p.stderr)
        self.assertNotIn(b"WARNING:esys", p.stderr)  # tpm2-tss's own log stays quiet
        self.assertEqual(self.snapshot(), before)
        st = strict_json(self.run_puddle("status", "--json").stdout)
        self.assertEqual(st["health"]["state"], "degraded")
        # A TPM that does not answer: an error naming it.
        self.tpm.stop()
        self.use(self.tpm.tcti, "auto")
        p = self.run_puddle(*ROTATE, passphrases=["pw2", "pw3"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"cannot reach a TPM (" + self.tpm.tcti.encode() + b")", p.stderr)
        # Back on its own TPM (same state directory), it opens again.
        again = SwTpm(os.path.join(self.tmp, "tpm-a"))
        self.addCleanup(again.stop)
        self.use(again.tcti, "auto")
        p = self.run_puddle(*ROTATE, passphrases=["pw2", "pw3"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_a_copied_state_directory_with_the_sealed_file_does_not_open_elsewhere(self):
        self.init("pw")
        # Another machine: another HOME and another TPM, with a copy of everything of the first.
        other_home = os.path.join(self.tmp, "elsewhere")
        shutil.copytree(self.home, os.path.join(other_home, "state"))
        shutil.copytree(os.path.join(self.tmp, ".local"), os.path.join(other_home, ".local"))
        other = SwTpm(os.path.join(self.tmp, "tpm-b"))
        self.addCleanup(other.stop)
        self.use(other.tcti, "auto")
        p = self.run_puddle(*ROTATE, passphrases=["pw", "x"],
                            env_extra=dict(HOME=other_home, PUDDLE_HOME=os.path.join(other_home, "state")))
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(b"this TPM does not load it", p.stderr)

    def test_required_without_a_tpm_fails_and_auto_falls_back_to_the_file(self):
        self.tpm.stop()
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=["pw"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b'[envoy] tpm = "required"', p.stderr)
        self.assertFalse(os.path.exists(self.file("identity.wrapped")))
        self.use(self.tpm.tcti, "auto")
        self.init("pw")
        self.assertEqual(sorted(n for n in os.listdir(self.envoy_dir()) if not n.startswith(".")), ["envoy.secret"])
        self.assertEqual(self.read("identity.wrapped")[8], 1)

    def test_off_keeps_the_file_even_with_a_tpm(self):
        self.use(self.tpm.tcti, "off")
        self.init("pw")
        self.assertEqual(sorted(n for n in os.listdir(self.envoy_dir()) if not n.startswith(".")), ["envoy.secret"])


if __name__ == "__main__":
    main()

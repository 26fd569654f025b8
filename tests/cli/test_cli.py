"""The puddle command's identity verbs, run as a user would, in a temporary
state directory: init, status, pubkey, verify, rotate-passphrase, and their
error paths (exit codes and messages of SPEC §5)."""
import base64
import json
import os
import re
import stat
import sys
import time
import unittest

import nacl.signing

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import PuddleCase, strict_json  # noqa: E402
import nacl_unwrap  # noqa: E402

KEY_RE = re.compile(r"^ed25519:[0-9a-f]{64}$")
VERBS = ["init", "status", "pubkey", "verify", "rotate-passphrase"]


class Init(PuddleCase):
    def test_init_writes_three_files_with_modes(self):
        p = self.init()
        self.assertIn(b"initialized puddle ed25519:", p.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(self.home).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(self.file("identity.wrapped")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.file("identity.salt")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.file("identity.pub")).st_mode), 0o644)
        self.assertEqual(len(self.read("identity.wrapped")), 174)
        self.assertEqual(self.read("identity.wrapped")[:8], b"PUDDLEW2")
        self.assertEqual(len(self.read("identity.salt")), 16)
        self.assertRegex(self.read("identity.pub").decode().rstrip("\n"), KEY_RE)
        self.assertEqual(sorted(os.listdir(self.home)),
                         [".lock", "envoy.json", "identity.pub", "identity.salt", "identity.wrapped"])
        self.assertEqual(stat.S_IMODE(os.stat(self.file("envoy.json")).st_mode), 0o600)
        # The envoy secret: outside the state directory, 0600 in a 0700 directory.
        envoy_dir = os.path.join(self.tmp, ".local", "state", "puddle")
        self.assertEqual(stat.S_IMODE(os.stat(envoy_dir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(envoy_dir, "envoy.secret")).st_mode), 0o600)

    def test_wrap_unwraps_with_an_independent_implementation(self):
        self.init("independent check")
        seed = nacl_unwrap.unwrap(self.read("identity.wrapped"), self.read("identity.salt"),
                                  self.read("identity.pub").decode(), b"independent check", home=self.tmp)
        self.assertEqual(len(seed), 32)
        # The envoy key the seal names is the one the secret derives.
        secret = nacl_unwrap.envoy_secret(self.tmp)
        self.assertEqual(self.read("identity.wrapped")[12:44], nacl_unwrap.envoy_public_key(secret))
        st = json.loads(self.run_puddle("status", "--json").stdout)
        self.assertEqual(st["protection"]["kind"], "envoy-file")
        self.assertEqual(st["protection"]["envoy_key"], "x25519:" + nacl_unwrap.envoy_public_key(secret).hex())

    def test_default_kdf_parameters_are_written(self):
        self.write_config("")
        self.init("default params")
        w = self.read("identity.wrapped")
        inner = nacl_unwrap.open_seal(w, self.read("identity.pub").decode(), nacl_unwrap.envoy_secret(self.tmp))
        self.assertEqual(inner[9:17], bytes.fromhex("00000003") + bytes.fromhex("00010000"))
        nacl_unwrap.unwrap(w, self.read("identity.salt"), self.read("identity.pub").decode(), b"default params",
                           home=self.tmp)

    def test_init_twice_is_refused_and_names_the_key(self):
        self.init()
        before = self.snapshot()
        pub = self.read("identity.pub").decode().strip()
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=["other"])
        self.assertEqual(p.returncode, 1)
        self.assertIn(pub, p.stderr.decode())
        self.assertTrue(p.stderr.startswith(b"puddle: init: "))
        self.assertEqual(self.snapshot(), before)

    def test_empty_passphrase_is_refused(self):
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[""])
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"empty passphrase", p.stderr)
        self.assertFalse(os.path.exists(self.file("identity.wrapped")))

    def test_no_terminal_and_no_fd_fails_at_once(self):
        t = time.monotonic()
        p = self.run_puddle("init", timeout=10)
        self.assertLess(time.monotonic() - t, 5)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"there is no terminal", p.stderr)
        self.assertIn(b"--passphrase-fd", p.stderr)
        self.assertFalse(os.path.exists(self.file("identity.wrapped")))

    def test_closed_passphrase_fd_is_a_usage_error(self):
        p = self.run_puddle("init", "--passphrase-fd", "99")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"not open", p.stderr)


class ReadOnlyVerbs(PuddleCase):
    def test_pubkey_prints_the_key(self):
        self.init()
        p = self.run_puddle("pubkey")
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, self.read("identity.pub"))

    def test_not_initialized_is_exit_4_with_hint(self):
        p = self.run_puddle("pubkey")
        self.assertEqual(p.returncode, 4)
        self.assertIn(b"hint: run 'puddle init'", p.stderr)

    def test_status_json(self):
        p = self.run_puddle("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        s = strict_json(p.stdout)
        self.assertFalse(s["initialized"])
        self.assertIsNone(s["pubkey"])
        self.init()
        s = strict_json(self.run_puddle("status", "--json").stdout)
        self.assertTrue(s["initialized"])
        self.assertEqual(s["pubkey"] + "\n", self.read("identity.pub").decode())
        self.assertEqual(s["idle_timeout_s"], 1440 * 60)
        self.assertEqual(s["state_dir"], self.home)
        for k in ("unlocked", "lock_deadline", "watch_pid", "health", "members", "name", "hints"):
            self.assertIn(k, s)

    def test_status_human(self):
        self.init()
        p = self.run_puddle("status")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"public key: ed25519:", p.stdout)
        self.assertNotIn(b"\033[", p.stdout)  # no colour off a terminal


class Verify(PuddleCase):
    def setUp(self):
        super().setUp()
        self.sk = nacl.signing.SigningKey.generate()
        self.pub = "ed25519:" + bytes(self.sk.verify_key).hex()
        self.msg = os.path.join(self.tmp, "msg")
        with open(self.msg, "wb") as f:
            f.write(b"hello puddle\n")

    def test_good_signature_base64_and_hex(self):
        sig = self.sk.sign(b"hello puddle\n").signature
        for text in (base64.b64encode(sig).decode(), sig.hex()):
            p = self.run_puddle("verify", "--sig", text, "--pub", self.pub, self.msg)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(self.pub.encode(), p.stdout)

    def test_stdin_input(self):
        sig = self.sk.sign(b"from stdin").signature
        p = self.run_puddle("verify", "--sig", sig.hex(), "--pub", self.pub, input_data=b"from stdin")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bad_signature_is_exit_1(self):
        sig = bytearray(self.sk.sign(b"hello puddle\n").signature)
        sig[5] ^= 1
        p = self.run_puddle("verify", "--sig", bytes(sig).hex(), "--pub", self.pub, self.msg)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"bad signature", p.stderr)

    def test_malformed_arguments_are_usage_errors(self):
        for args in (["--sig", "AAAA", "--pub", self.pub, self.msg],
                     ["--sig", "zz" * 64, "--pub", self.pub, self.msg],
                     ["--sig", "00" * 64, "--pub", "ed25519:ABC", self.msg],
                     ["--pub", self.pub, self.msg]):
            p = self.run_puddle("verify", *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertTrue(p.stderr.startswith(b"puddle: verify: "), p.stderr)

    def test_default_key_is_this_puddles(self):
        self.init()
        p = self.run_puddle("verify", "--sig", "00" * 64, self.msg)
        self.assertEqual(p.returncode, 1)
        self.assertIn(self.read("identity.pub").strip(), p.stderr)


class RotatePassphrase(PuddleCase):
    def test_success_changes_passphrase_salt_and_nonce_not_key(self):
        self.init("old pass")
        before = self.snapshot()
        p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                            passphrases=["old pass", "new pass"])
        self.assertEqual(p.returncode, 0, p.stderr)
        after = self.snapshot()
        self.assertEqual(after["identity.pub"], before["identity.pub"])
        self.assertNotEqual(after["identity.salt"], before["identity.salt"])
        self.assertNotEqual(after["identity.wrapped"][44:68], before["identity.wrapped"][44:68])
        pub = after["identity.pub"].decode()
        nacl_unwrap.unwrap(after["identity.wrapped"], after["identity.salt"], pub, b"new pass", home=self.tmp)
        with self.assertRaises(Exception):
            nacl_unwrap.unwrap(after["identity.wrapped"], after["identity.salt"], pub, b"old pass", home=self.tmp)
        self.assertNotIn("identity.journal", os.listdir(self.home))

    def test_wrong_passphrase_is_exit_5_and_changes_nothing(self):
        self.init("old pass")
        before = self.snapshot()
        p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                            passphrases=["not it", "new pass"])
        self.assertEqual(p.returncode, 5)
        self.assertIn(b"wrong passphrase (or damaged identity.wrapped)", p.stderr)
        self.assertEqual(self.snapshot(), before)

    def test_empty_new_passphrase_changes_nothing(self):
        self.init("old pass")
        before = self.snapshot()
        p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                            passphrases=["old pass", ""])
        self.assertEqual(p.returncode, 2)
        self.assertEqual(self.snapshot(), before)

    def test_tampered_blob_is_exit_5(self):
        self.init("old pass")
        # In the envoy key the seal names, in the nonce, in the ciphertext, in the tag.
        for offset, needle in ((20, b"and this machine's sealing key is"), (50, b"the machine seal does not open"),
                               (100, b"the machine seal does not open"), (173, b"the machine seal does not open")):
            w = bytearray(self.read("identity.wrapped"))
            w[offset] ^= 0x40
            with open(self.file("identity.wrapped"), "wb") as f:
                f.write(w)
            before = self.snapshot()
            p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                                passphrases=["old pass", "new"])
            self.assertEqual(p.returncode, 5, offset)
            self.assertIn(needle, p.stderr)
            self.assertIn(b"identity.wrapped", p.stderr)
            self.assertEqual(self.snapshot(), before)
            w[offset] ^= 0x40
            with open(self.file("identity.wrapped"), "wb") as f:
                f.write(w)

    def test_truncated_and_unknown_version_blob(self):
        self.init("old pass")
        good = self.read("identity.wrapped")
        for bad, needle in ((good[:60], b"60 bytes"), (good + b"x", b"175 bytes"),
                            (b"PUDDLEW3" + good[8:], b"PUDDLEW3"), (good[:8] + b"\x03" + good[9:], b"0x03")):
            with open(self.file("identity.wrapped"), "wb") as f:
                f.write(bad)
            p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                                passphrases=["old pass", "new"])
            self.assertEqual(p.returncode, 5, needle)
            self.assertIn(needle, p.stderr)
            self.assertIn(b"identity.wrapped", p.stderr)
            self.assertEqual(self.read("identity.wrapped"), bad)


class UnsafeState(PuddleCase):
    def test_group_writable_dir_is_refused_with_chmod_hint(self):
        self.init()
        os.chmod(self.home, 0o770)
        before = self.snapshot()
        for verb in (["pubkey"], ["rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD"]):
            p = self.run_puddle(*verb, passphrases=["correct horse", "x"])
            self.assertEqual(p.returncode, 1, verb)
            self.assertIn(self.home.encode(), p.stderr)
            self.assertIn(b"hint: chmod 700 " + self.home.encode(), p.stderr)
        # status always reports: the refusal is its health finding.
        p = self.run_puddle("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        health = strict_json(p.stdout)["health"]
        self.assertEqual(health["state"], "degraded")
        self.assertTrue(any("chmod 700 " + self.home in r for r in health["reasons"]), health)
        self.assertEqual(self.snapshot(), before)

    def test_world_writable_secret_file_is_refused(self):
        self.init()
        os.chmod(self.file("identity.wrapped"), 0o666)
        p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                            passphrases=["correct horse", "x"])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"hint: chmod 600 " + self.file("identity.wrapped").encode(), p.stderr)


class Config(PuddleCase):
    def test_bad_type_names_file_line_and_key(self):
        self.write_config("[agent]\n\nidle_timeout_minutes = \"soon\"\n")
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=["x"])
        self.assertEqual(p.returncode, 1)
        path = os.path.join(self.xdg, "puddle", "puddle.toml")
        self.assertIn(f"{path}:3: agent.idle_timeout_minutes".encode(), p.stderr)

    def test_unknown_key_is_a_warning(self):
        self.write_config("[agent]\nfrobnicate = 1\n")
        p = self.run_puddle("status")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"warning", p.stderr)
        self.assertIn(b"agent.frobnicate", p.stderr)

    def test_system_then_user_file(self):
        with open(self.env["PUDDLE_SYSTEM_CONFIG"], "w") as f:
            f.write("[agent]\nidle_timeout_minutes = 10\nexit_idle_seconds = 5\n")
        self.write_config("[agent]\nidle_timeout_minutes = 20\n")
        s = strict_json(self.run_puddle("status", "--json").stdout)
        self.assertEqual(s["idle_timeout_s"], 20 * 60)


class Help(PuddleCase):
    def test_help_and_version_for_tool_and_every_verb(self):
        p = self.run_puddle("--help")
        self.assertEqual(p.returncode, 0)
        for v in VERBS:
            self.assertIn(v.encode(), p.stdout)
        self.assertRegex(self.run_puddle("--version").stdout.decode(), r"^puddle \d+\.\d+\.\d+\n$")
        for v in VERBS:
            h = self.run_puddle(v, "--help")
            self.assertEqual(h.returncode, 0, v)
            self.assertTrue(h.stdout.startswith(f"usage: puddle {v}".encode()), v)
            self.assertEqual(self.run_puddle(v, "--version").returncode, 0)

    def test_unknown_verb_and_option_are_exit_2(self):
        self.assertEqual(self.run_puddle("frobnicate").returncode, 2)
        p = self.run_puddle("status", "--frob")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b'unknown option "--frob"', p.stderr)
        self.assertEqual(self.run_puddle().returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)

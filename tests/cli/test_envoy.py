"""The identity at rest needs the passphrase and this machine's envoy secret
(issue 17, docs/formats.md): a state directory copied to another machine
does not unlock with the passphrase alone and says why; `export`/`import`
carry the identity by hand; an identity an older puddle wrote is sealed by
the first command. "Another machine" is another $HOME: the envoy secret
lives under $HOME/.local/state/puddle, outside the state directory."""
import base64
import json
import os
import shutil
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nacl_unwrap  # noqa: E402
from cli_common import PuddleCase, strict_json  # noqa: E402

ROTATE = ("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD")


class EnvoyCase(PuddleCase):
    def setUp(self):
        super().setUp()
        # A second machine of the same user: its own HOME, the same config.
        self.other = os.path.join(self.tmp, "other")
        os.makedirs(self.other)
        self.other_env = dict(HOME=self.other, PUDDLE_HOME=os.path.join(self.other, "state"))

    def on_other(self, *args, env_extra=None, **kw):
        return self.run_puddle(*args, env_extra=env_extra or self.other_env, **kw)

    def export(self, target="-"):
        p = self.run_puddle("export", target)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"unlocks with the passphrase alone", p.stderr)
        return p


class CopiedStateDirectory(EnvoyCase):
    def test_a_copy_elsewhere_does_not_open_with_the_passphrase_and_says_why(self):
        self.init("pw")
        shutil.copytree(self.home, self.other_env["PUDDLE_HOME"])
        p = self.on_other(*ROTATE, passphrases=["pw", "new"])
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(b"this machine has no machine secret", p.stderr)
        self.assertIn(b"'puddle export FILE'", p.stderr)
        # ... nor with another machine's envoy secret.
        self.assertEqual(self.on_other("init", "--passphrase-fd", "FD", passphrases=["x"],
                                       env_extra=dict(self.other_env, PUDDLE_HOME=self.other + "/own")).returncode, 0)
        p = self.on_other(*ROTATE, passphrases=["pw", "new"])
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(b"and this machine's sealing key is x25519:", p.stderr)
        # status still reports, degraded, naming the way out.
        st = strict_json(self.on_other("status", "--json").stdout)
        self.assertEqual(st["health"]["state"], "degraded")
        self.assertTrue(any("sealed to the sealing key" in r and "puddle import" in r for r in st["health"]["reasons"]), st)
        self.assertIsNone(st["protection"])
        # The passphrase is right, the envoy is wrong: an independent reader agrees.
        with open(os.path.join(self.other_env["PUDDLE_HOME"], "identity.wrapped"), "rb") as f:
            w = f.read()
        with self.assertRaises(AssertionError):
            nacl_unwrap.open_seal(w, self.read("identity.pub").decode(), nacl_unwrap.envoy_secret(self.other))

    def test_import_of_an_export_repairs_the_copy_and_keeps_members(self):
        self.init("pw")
        shutil.copytree(self.home, self.other_env["PUDDLE_HOME"])
        bundle = self.export().stdout
        p = self.on_other("import", "--passphrase-fd", "FD", "-", passphrases=["wrong"], input_data=bundle)
        self.assertNotEqual(p.returncode, 0)
        # stdin carries the bundle; the passphrase comes from the fd
        p = self.run_puddle("import", "--passphrase-fd", "FD", "-", passphrases=["pw"], input_data=bundle,
                            env_extra=self.other_env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"re-sealed puddle", p.stdout)
        self.assertEqual(self.on_other(*ROTATE, passphrases=["pw", "new"]).returncode, 0)


class ExportImport(EnvoyCase):
    def test_export_is_the_v1_wrap_and_imports_on_a_new_machine(self):
        self.init("pw")
        p = self.export()
        doc = strict_json(p.stdout)
        self.assertEqual(sorted(doc), ["kind", "members", "pub", "retired", "salt", "v", "wrapped"])
        # The exporter's members view, itself in it with its certificate (issue 25: whom the importer reports to).
        self.assertEqual([(m["direction"], m["pubkey"]) for m in doc["members"]["members"]], [("self", doc["pub"])])
        self.assertEqual(doc["members"]["members"][0]["machine"], doc["members"]["members"][0]["envoy"]["signer"])
        self.assertEqual((doc["v"], doc["kind"], doc["retired"]), (1, "puddle-export", []))
        self.assertEqual(doc["pub"] + "\n", self.read("identity.pub").decode())
        wrapped = base64.b64decode(doc["wrapped"])
        self.assertEqual(wrapped[:8], b"PUDDLEW1")
        # Independently: the passphrase alone opens the export.
        nacl_unwrap.unwrap(wrapped, base64.b64decode(doc["salt"]), doc["pub"] + "\n", b"pw")
        path = os.path.join(self.tmp, "bundle.json")
        with open(path, "wb") as f:
            f.write(p.stdout)
        p = self.on_other("import", "--passphrase-fd", "FD", path, passphrases=["pw"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"imported puddle " + doc["pub"].encode(), p.stdout)
        # Sealed to the other machine's own envoy, not a copy of this one's.
        with open(os.path.join(self.other_env["PUDDLE_HOME"], "identity.wrapped"), "rb") as f:
            other_w = f.read()
        self.assertEqual(other_w[:8], b"PUDDLEW2")
        self.assertNotEqual(other_w[12:44], self.read("identity.wrapped")[12:44])
        nacl_unwrap.unwrap(other_w, base64.b64decode(doc["salt"]), doc["pub"] + "\n", b"pw", home=self.other)
        st = strict_json(self.on_other("status", "--json").stdout)
        self.assertEqual(st["pubkey"], doc["pub"])
        self.assertEqual(st["protection"]["kind"], "envoy-file")

    def test_export_to_a_file_is_0600_and_never_overwrites(self):
        self.init("pw")
        path = os.path.join(self.tmp, "out.json")
        self.export(path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            first = f.read()
        p = self.run_puddle("export", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"the file exists", p.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), first)

    def test_import_refuses_another_puddle_bad_bundles_and_a_wrong_passphrase(self):
        self.init("pw")
        bundle = self.export().stdout
        self.assertEqual(self.on_other("init", "--passphrase-fd", "FD", passphrases=["x"]).returncode, 0)
        p = self.on_other("import", "--passphrase-fd", "FD", "-", passphrases=["pw"], input_data=bundle)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"already belongs to a different puddle", p.stderr)
        fresh = dict(self.other_env, PUDDLE_HOME=os.path.join(self.other, "fresh"))
        for bad, needle in ((b"{}", b"missing field"), (b"[]", b"expected a JSON object"),
                            (bundle.replace(b'"v":1', b'"v":9'), b"format version 9"),
                            (b"x" * 6_000_000, b"larger than")):
            p = self.run_puddle("import", "--passphrase-fd", "FD", "-", passphrases=["pw"], input_data=bad,
                                env_extra=fresh)
            self.assertIn(p.returncode, (1, 2), p.stderr)
            self.assertIn(needle, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(fresh["PUDDLE_HOME"], "identity.wrapped")))
        p = self.run_puddle("import", "--passphrase-fd", "FD", "-", passphrases=["nope"], input_data=bundle,
                            env_extra=fresh)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(fresh["PUDDLE_HOME"], "identity.wrapped")))

    def test_usage_errors(self):
        self.init("pw")
        self.assertEqual(self.run_puddle("export").returncode, 2)
        self.assertEqual(self.run_puddle("import").returncode, 2)
        self.assertEqual(self.run_puddle("export", "a", "b").returncode, 2)


class Upgrade(EnvoyCase):
    def test_an_identity_an_older_puddle_wrote_is_sealed_by_the_next_command(self):
        self.init("pw")
        doc = strict_json(self.export().stdout)
        # As an older puddle left it: the v1 wrap on disk, no envoy secret.
        with open(self.file("identity.wrapped"), "wb") as f:
            f.write(base64.b64decode(doc["wrapped"]))
        shutil.rmtree(os.path.join(self.tmp, ".local"))
        st = strict_json(self.run_puddle("status", "--json").stdout)  # status takes the lock too
        self.assertEqual(st["protection"]["kind"], "envoy-file", st)
        w = self.read("identity.wrapped")
        self.assertEqual(w[:8], b"PUDDLEW2")
        self.assertEqual(nacl_unwrap.open_seal(w, doc["pub"] + "\n", nacl_unwrap.envoy_secret(self.tmp)),
                         base64.b64decode(doc["wrapped"]))
        self.assertNotIn("identity.journal", os.listdir(self.home))

    def test_a_journal_an_older_puddle_left_is_rolled_forward_then_sealed(self):
        self.init("pw")
        doc = strict_json(self.export().stdout)
        journal = (base64.b64decode(doc["salt"]) + base64.b64decode(doc["wrapped"]) +
                   bytes.fromhex(doc["pub"][len("ed25519:"):]))
        with open(self.file("identity.journal"), "wb") as f:
            f.write(journal)
        os.chmod(self.file("identity.journal"), 0o600)
        p = self.run_puddle("pubkey")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("identity.journal", os.listdir(self.home))
        self.assertEqual(self.read("identity.wrapped")[:8], b"PUDDLEW2")
        self.assertEqual(self.run_puddle(*ROTATE, passphrases=["pw", "n"]).returncode, 0)


class EnvoySecretFile(EnvoyCase):
    def test_a_readable_envoy_secret_is_refused_with_the_fix(self):
        self.init("pw")
        path = os.path.join(self.tmp, ".local", "state", "puddle", "envoy.secret")
        os.chmod(path, 0o640)
        p = self.run_puddle(*ROTATE, passphrases=["pw", "new"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"this machine's secret is readable by its group", p.stderr)
        self.assertIn(("chmod 600 " + path).encode(), p.stderr)
        os.chmod(path, 0o600)
        self.assertEqual(self.run_puddle(*ROTATE, passphrases=["pw", "new"]).returncode, 0)


    def test_another_process_of_the_user_with_every_file_still_needs_the_passphrase(self):
        """puddle-agent(1) SECURITY: on this machine a process of the same user
        can read the envoy secret (a file; or have the TPM unseal it) and the
        identity files. It then holds the passphrase-wrapped key and no more:
        each guess costs an Argon2id derivation, as for ssh-agent users' key files."""
        self.init("the passphrase")
        w, salt, pub = self.read("identity.wrapped"), self.read("identity.salt"), self.read("identity.pub").decode()
        import nacl.exceptions
        for guess in (b"", b"the passphrase ", b"The passphrase", b"x" * 64):
            with self.assertRaises(nacl.exceptions.CryptoError):
                nacl_unwrap.unwrap(w, salt, pub, guess, home=self.tmp)
        # The same reader with the passphrase: the claim above is about the passphrase alone.
        self.assertEqual(len(nacl_unwrap.unwrap(w, salt, pub, b"the passphrase", home=self.tmp)), 32)


if __name__ == "__main__":
    unittest.main(verbosity=2)

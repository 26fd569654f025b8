"""Friendly names (signed claims, contested, unknown, bad signatures) and
health (SPEC §9, §11), with the agent under a real user manager."""
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest

import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_fixture import PASSPHRASE, AgentTestCase, main  # noqa: E402
import nacl_unwrap  # noqa: E402
from cli_common import strict_json  # noqa: E402


def claim(sk, name, at=None):
    pub = "ed25519:" + bytes(sk.verify_key).hex()
    at = at or int(time.time())
    sig = sk.sign(f"puddle-statement-name-v1\n{name}\n{pub}\n{at}\n".encode()).signature
    import base64
    return {"v": 1, "name": name, "pubkey": pub, "at": at, "sig": base64.b64encode(sig).decode()}


class NamesAndHealth(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.names_d = os.path.join(self._session.home, ".local", "share", "puddle", "names.d")
        subprocess.run(["rm", "-rf", self.names_d], check=True)
        self.a.puddle("name", "clear")

    def put_claim(self, filename, content):
        self._session.write_file(os.path.join(".local/share/puddle/names.d", filename),
                                 content if isinstance(content, str) else json.dumps(content))

    def status(self):
        p = self.a.puddle("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return strict_json(p.stdout)

    def test_name_set_writes_a_claim_verifiable_independently(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        p = self.a.puddle("name", "set", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.a.state_file("name-claim.json")) as f:
            c = json.load(f)
        self.assertEqual((c["v"], c["name"], c["pubkey"]), (1, "alice", self.pub))
        import base64
        msg = f"puddle-statement-name-v1\nalice\n{self.pub}\n{c['at']}\n".encode()
        nacl.signing.VerifyKey(bytes.fromhex(self.pub[8:])).verify(msg, base64.b64decode(c["sig"]))
        self.assertEqual(oct(os.stat(self.a.state_file("name-claim.json")).st_mode & 0o777), "0o644")
        r = self.a.puddle("name", "resolve", "alice")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, self.pub))
        self.assertIn("unique", self.a.puddle("name", "show").stdout)
        self.assertEqual(self.status()["name"], {"name": "alice", "unique": True})

    def test_invalid_names_are_refused_with_the_rule(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        for bad in ("Alice", "1abc", "a" * 33, "al ice", "-x", ""):
            p = self.a.puddle("name", "set", bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("invalid name", p.stderr)

    def test_name_set_while_locked_is_exit_3(self):
        p = self.a.puddle("name", "set", "carol")
        self.assertEqual(p.returncode, 3, p.stderr)

    def test_contested_unknown_and_refused_names(self):
        self.assertEqual(self.a.unlock("--no-watch").returncode, 0)
        self.assertEqual(self.a.puddle("name", "set", "alice").returncode, 0)
        other = nacl.signing.SigningKey.generate()
        other_pub = "ed25519:" + bytes(other.verify_key).hex()
        self.put_claim("other-alice.json", claim(other, "alice"))
        self.put_claim("other-bob.json", claim(other, "bob"))
        r = self.a.puddle("name", "resolve", "alice")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertIn(self.pub, r.stderr)
        self.assertIn(other_pub, r.stderr)
        self.assertIn("ambiguous", r.stderr)
        r = self.a.puddle("name", "resolve", "bob")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, other_pub))
        r = self.a.puddle("name", "resolve", "nobody")
        self.assertEqual(r.returncode, 1)
        self.assertIn("CONTESTED", self.a.puddle("name", "show").stdout)
        r = self.a.puddle("name", "set", "bob")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertIn(other_pub, r.stderr)
        st = self.status()
        self.assertEqual(st["name"]["unique"], False)
        self.assertEqual(st["health"]["state"], "warning", st)
        self.assertTrue(any("contested" in x for x in st["health"]["reasons"]), st)

    def test_bad_claims_are_ignored_and_reported(self):
        other = nacl.signing.SigningKey.generate()
        forged = claim(other, "mallory")
        forged["name"] = "trent"  # signature no longer matches
        self.put_claim("forged.json", forged)
        self.put_claim("garbage.json", "{not json")
        v2 = claim(other, "victor")
        v2["v"] = 2
        self.put_claim("future.json", v2)
        r = self.a.puddle("name", "resolve", "trent")
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad signature", r.stderr)
        st = self.status()
        self.assertEqual(st["health"]["state"], "warning", st)
        reasons = " ".join(st["health"]["reasons"])
        for f in ("forged.json", "garbage.json", "future.json"):
            self.assertIn(f, reasons)

    def test_a_fifo_among_the_claims_hangs_nothing(self):
        d = os.path.join(self._session.home, ".local", "share", "puddle", "names.d")
        self._session.run(["mkdir", "-p", d], check=True)
        fifo = os.path.join(d, "stuck.json")
        self._session.run(["mkfifo", fifo], check=True)
        try:
            p = self.a.puddle("status", "--json", timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            reasons = strict_json(p.stdout)["health"]["reasons"]
            self.assertTrue(any("stuck.json" in str(r) and "not a regular file" in str(r) for r in reasons), reasons)
            r = self.a.bus("props")
            self.assertIn("ok", r)  # the agent's properties (Health among them) still answer
        finally:
            os.unlink(fifo)

    def test_health_states(self):
        st = self.status()
        self.assertEqual(st["health"], {"state": "healthy", "reasons": []})
        self.assertEqual(self.a.bus("props")["ok"]["Health"], "healthy")
        wrapped = self.a.state_file("identity.wrapped")
        os.chmod(wrapped, 0o644)
        try:
            st = self.status()
            self.assertEqual(st["health"]["state"], "degraded", st)
            self.assertIn("identity.wrapped", " ".join(st["health"]["reasons"]))
            props = self.a.bus("props")["ok"]
            self.assertEqual(props["Health"], "degraded")
        finally:
            os.chmod(wrapped, 0o600)

    def test_drifted_copies_after_a_passphrase_change_warn(self):
        # The digest of the passphrase-wrapped key, inside this envoy's seal.
        portable = nacl_unwrap.portable_identity(os.path.dirname(self.a.state_file("identity.wrapped")))
        digest = "sha256:" + hashlib.sha256(portable["identity.wrapped"]).hexdigest()
        members = {"v": 1, "members": [{"host": "other-envoy", "since": int(time.time()), "direction": "admitted",
                                        "wrapped_digest": digest, "pubkey": self.pub}]}
        self._session.write_file(".puddle/members.json", json.dumps(members), mode=0o600)
        try:
            self.assertEqual(self.status()["health"]["state"], "healthy")
            p = self.a.puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                              passphrases=[PASSPHRASE, "changed here only"])
            self.assertEqual(p.returncode, 0, p.stderr)
            st = self.status()
            self.assertEqual(st["health"]["state"], "warning", st)
            self.assertIn("other-envoy", " ".join(st["health"]["reasons"]))
            self.assertIn("drifted", " ".join(st["health"]["reasons"]))
        finally:
            self.a.puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                          passphrases=["changed here only", PASSPHRASE])
            os.unlink(self.a.state_file("members.json"))


if __name__ == "__main__":
    main()

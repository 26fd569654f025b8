"""evict and accept without the network (issue 17): three envoys of one
user on one machine -- three $HOMEs (three envoy secrets) and three host
names (each command runs in its own UTS namespace) -- made members by
export/import. A learns B's and C's certified envoy keys as pairing hands
them over: their envoy.json becomes A's member records (the exchange itself
is tested in tests/integration/test_pair.py). Then A evicts C."""
import base64
import hashlib
import json
import os
import random
import signal
import shutil
import subprocess
import sys
import time
import unittest

import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nacl_unwrap  # noqa: E402
from cli_common import main, PUDDLE, PuddleCase, strict_json  # noqa: E402

PASS = "the one passphrase"


def can_unshare_uts(*more):
    try:
        return subprocess.run(["unshare", "--uts", *more, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def envelope_statement(doc):
    """What the three signatures of an envelope cover (docs/formats.md)."""
    s = "puddle-statement-envelope-v2\n%s\n%s\n%d\n%d\n%s\n%s\n" % (
        doc["old"], doc["new"], doc["at"], doc["generation"], base64.b64decode(doc["salt"]).hex(), doc["wrap_digest"])
    s += "maker %s %s %s\n" % (doc["maker"]["host"], doc["maker"]["envoy"], doc["maker"]["signer"])
    s += "".join("evicted %s %s\n" % (e["host"], e["envoy"] or "-") for e in doc["evicted"])
    s += "".join("to %s %s\n" % (r["host"], r["envoy"]) for r in doc["recipients"])
    return s


SKIP_NO_UTS = "SKIP: cannot make a UTS namespace here (unshare --uts), so three envoys cannot have three host names"


@unittest.skipUnless(can_unshare_uts(), SKIP_NO_UTS)
class EnvoysCase(PuddleCase):
    def setUp(self):
        super().setUp()
        self.envoys = {}
        for name in ("a", "b", "c"):
            home = os.path.join(self.tmp, name)
            os.makedirs(home)
            self.envoys[name] = dict(HOME=home, PUDDLE_HOME=os.path.join(home, "state"))
        self.assertEqual(self.on("a", "init", "--passphrase-fd", "FD", passphrases=[PASS]).returncode, 0)
        bundle = self.on("a", "export", "-").stdout
        for name in ("b", "c"):
            p = self.on(name, "import", "--passphrase-fd", "FD", "-", passphrases=[PASS], input_data=bundle)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.old = self.pub("a")
        for name in ("a", "b", "c"):
            self.assertEqual(json.loads(self.read_in(name, "envoy.json"))["host"], name + "-host")
        self.a_members = [self.record_of("b"), self.record_of("c")]
        self.write_members("a", self.a_members)
        # B and C know A (and its machine key) as pairing with it would tell them.
        for name in ("b", "c"):
            self.write_members(name, [self.record_of("a", "joined")])

    # ---- helpers

    def record_of(self, name, direction="admitted"):
        """A members.json record of envoy `name`, from its own envoy.json (its certificate)."""
        cert = json.loads(self.read_in(name, "envoy.json"))
        self.assertIn("signer", cert["envoy"])
        return {"host": cert["host"], "since": 1, "direction": direction, "wrapped_digest": "sha256:" + "0" * 64,
                "pubkey": cert["pubkey"], "envoy": cert["envoy"]}

    def prefix(self, name):
        """Its own UTS namespace with host name NAME-host."""
        return ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', name + "-host"]

    def argv(self, name, *args):
        return [*self.prefix(name), PUDDLE, *args]

    def on(self, name, *args, passphrases=None, input_data=None):
        """puddle as envoy `name`: its HOME and state, host name NAME-host."""
        return self.run_puddle(*args, passphrases=passphrases, input_data=input_data, timeout=60,
                               env_extra=self.envoys[name], prefix=self.prefix(name))

    def state(self, name):
        return self.envoys[name]["PUDDLE_HOME"]

    def read_in(self, name, f):
        with open(os.path.join(self.state(name), f), "rb") as fh:
            return fh.read()

    def pub(self, name):
        return self.read_in(name, "identity.pub").decode().strip()

    def write_members(self, name, records):
        path = os.path.join(self.state(name), "members.json")
        with open(path, "w") as f:
            json.dump({"v": 1, "members": records}, f)
        os.chmod(path, 0o600)

    def evict_c(self):
        p = self.on("a", "evict", "--passphrase-fd", "FD", "c-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"evicted c-host", p.stderr)
        self.assertIn(b"same passphrase", p.stderr)
        return self.read_in("a", "envelope.json")

    def signs_with_new_key(self, name, new):
        """B unwraps with the passphrase (independent reader), signs; PyNaCl verifies."""
        seed = nacl_unwrap.unwrap(self.read_in(name, "identity.wrapped"), self.read_in(name, "identity.salt"),
                                  self.read_in(name, "identity.pub").decode(), PASS.encode(),
                                  home=self.envoys[name]["HOME"])
        sk = nacl.signing.SigningKey(seed)
        self.assertEqual("ed25519:" + bytes(sk.verify_key).hex(), new)
        sig = sk.sign(b"after the eviction").signature
        nacl.signing.VerifyKey(bytes.fromhex(new[8:])).verify(b"after the eviction", sig)



class ThreeEnvoys(EnvoysCase):
    def test_evict_then_accept_by_file_and_by_stdin(self):
        envelope = self.evict_c()
        new = self.pub("a")
        self.assertNotEqual(new, self.old)
        doc = strict_json(envelope)
        self.assertEqual([r["host"] for r in doc["recipients"]], ["b-host"])
        self.assertEqual(doc["evicted"][0]["host"], "c-host")
        self.assertEqual((doc["old"], doc["new"], doc["generation"]), (self.old, new, 1))
        # A itself: same passphrase on the new key; C left its view.
        self.signs_with_new_key("a", new)
        self.assertEqual([m["host"] for m in strict_json(self.on("a", "members", "--json").stdout)["members"]],
                         ["a-host", "b-host"])
        # B by standard input (as 'ssh b puddle accept - < envelope' does).
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=envelope)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"rotated to " + new.encode(), p.stdout)
        self.assertEqual(self.pub("b"), new)
        self.signs_with_new_key("b", new)
        # Again: nothing to do.
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=envelope)
        self.assertEqual((p.returncode, b"nothing changed" in p.stdout), (0, True), p.stdout)
        # verify: B's puddle accepts a signature by the new key, made by A's.
        log = json.loads(self.read_in("b", "retired_puddles.json"))
        self.assertEqual((log[-1]["old"], log[-1]["new"]), (self.old, new))

    def test_setup_git_files_follow_evict_on_the_maker_and_accept_on_a_member(self):
        for name in ("a", "b"):
            p = self.on(name, "setup", "git", "--principal", "me@puddle")
            self.assertEqual(p.returncode, 0, p.stderr)
        envelope = self.evict_c()
        new = self.pub("a")
        at = json.loads(self.read_in("a", "retired_puddles.json"))[-1]["at"]
        stamp = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(at))
        lines = self.read_in("a", "git_allowed_signers").decode().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].startswith('me@puddle namespaces="git",valid-before="%s" ssh-ed25519 ' % stamp), lines)
        self.assertTrue(lines[1].startswith('me@puddle namespaces="git",valid-after="%s" ssh-ed25519 ' % stamp), lines)
        key = self.read_in("a", "git_signing_key.pub").decode()
        self.assertTrue(key.endswith(" puddle:" + new[8:24] + "\n"), key)
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=envelope)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.read_in("b", "git_allowed_signers"), self.read_in("a", "git_allowed_signers"))
        self.assertEqual(self.read_in("b", "git_signing_key.pub"), self.read_in("a", "git_signing_key.pub"))
        # C never ran setup git: nothing is written there.
        self.assertFalse(os.path.exists(os.path.join(self.state("c"), "git_allowed_signers")))

    def test_accept_from_a_file_and_the_evicted_envoy_gets_nothing(self):
        self.evict_c()
        new = self.pub("a")
        path = os.path.join(self.tmp, "carried.json")
        shutil.copy(os.path.join(self.state("a"), "envelope.json"), path)
        self.assertEqual(self.on("b", "accept", "--from", "a-host", path).returncode, 0)
        # C: the envelope says it was evicted.
        p = self.on("c", "accept", "--from", "a-host", path)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn(b"is the one the rotation to " + new.encode() + b" evicted", p.stderr)
        self.assertEqual(self.pub("c"), self.old)
        # C with everything: the passphrase, its own envoy secret, the envelope and a
        # copy of every file of A's and B's state directories, cannot reach the new key.
        c_secret = nacl_unwrap.envoy_secret(self.envoys["c"]["HOME"])
        for other in ("a", "b"):
            w = self.read_in(other, "identity.wrapped")
            with self.assertRaises(Exception):
                nacl_unwrap.open_seal(w, new + "\n", c_secret)
        doc = json.loads(self.read_in("a", "envelope.json"))
        import nacl.bindings
        c_pk = nacl_unwrap.envoy_public_key(c_secret)
        _, c_sk = nacl.bindings.crypto_box_seed_keypair(nacl_unwrap.kdf_subkey(c_secret, 2, b"puddlebx"))
        import base64
        for r in doc["recipients"]:
            with self.assertRaises(Exception):
                nacl.bindings.crypto_box_seal_open(base64.b64decode(r["key"]), c_pk, c_sk)
        # ... and copying A's state directory over its own opens nothing either.
        shutil.rmtree(self.state("c"))
        shutil.copytree(self.state("a"), self.state("c"))
        p = self.on("c", "rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                    passphrases=[PASS, "x"])
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(b"and this machine's sealing key is", p.stderr)

    def test_the_envoy_that_made_a_generation_waits_for_its_recipients(self):
        self.evict_c()
        new = self.pub("a")
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertEqual((st["generation"], st["delivery"]["generation"]), (1, 1), st)
        self.assertEqual((st["delivery"]["waiting"], st["delivery"]["taken"]), (["b-host"], []), st)
        # Within [health] member_behind_days (14 by default): listed, no warning.
        self.assertFalse(any("b-host" in r for r in st["health"]["reasons"]), st["health"])
        self.assertIn(b"not yet seen taking it: b-host", self.on("a", "status").stdout)
        m = strict_json(self.on("a", "members", "--json").stdout)
        self.assertEqual(m["generation"], 1)
        self.assertEqual({r["host"]: r["generation"] for r in m["members"]}, {"a-host": 1, "b-host": 0})
        # Past it: Warning, naming the member and the way out.
        config = os.path.join(self.xdg, "puddle", "puddle.toml")
        os.makedirs(os.path.dirname(config), exist_ok=True)
        with open(config, "w") as f:
            f.write("[health]\nmember_behind_days = 3\n")
        path = os.path.join(self.state("a"), "envelope.json")
        carried = os.path.join(self.tmp, "carried.json")
        shutil.copy(path, carried)
        doc = json.loads(self.read_in("a", "envelope.json"))
        doc["at"] -= 4 * 86400  # as if made four days ago (A's own copy; B gets the signed one)
        with open(path, "w") as f:
            json.dump(doc, f)
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertEqual(st["health"]["state"], "warning", st["health"])
        reason = [r for r in st["health"]["reasons"] if "b-host" in r]
        self.assertEqual(len(reason), 1, st["health"])
        self.assertIn("has not been seen taking generation 1", reason[0])
        self.assertIn("4 days ago", reason[0])
        self.assertIn("'puddle members --took b-host' here", reason[0])
        # B takes it; A is told so.
        self.assertEqual(self.on("b", "accept", "--from", "a-host", carried).returncode, 0)
        p = self.on("a", "members", "--took", "b-host")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"recorded: b-host holds " + new.encode(), p.stdout)
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertEqual((st["delivery"]["waiting"], st["delivery"]["taken"]), ([], ["b-host"]), st)
        self.assertFalse(any("b-host" in r for r in st["health"]["reasons"]), st["health"])
        m = strict_json(self.on("a", "members", "--json").stdout)
        self.assertEqual(max(r["generation"] for r in m["members"] if r["host"] == "b-host"), 1)
        # B sees its own key at generation 1.
        self.assertEqual(strict_json(self.on("b", "members", "--json").stdout)["generation"], 1)
        # Bad input: an unknown host, both modes at once, a config out of range.
        p = self.on("a", "members", "--took", "nobody-host")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b'no member named "nobody-host"', p.stderr)
        self.assertEqual(self.on("a", "members", "--took", "b-host", "--json").returncode, 2)
        with open(config, "w") as f:
            f.write("[health]\nmember_behind_days = -1\n")
        p = self.on("a", "members", "--took", "b-host")
        self.assertEqual(p.returncode, 0, p.stderr)  # members only reads the configuration it needs
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertTrue(any("member_behind_days" in r for r in st["health"]["reasons"]), st["health"])

    def test_the_old_key_verifies_its_history_and_is_not_the_puddle_any_more(self):
        # C, before the eviction, signs with the key all three held then.
        seed = nacl_unwrap.unwrap(self.read_in("c", "identity.wrapped"), self.read_in("c", "identity.salt"),
                                  self.read_in("c", "identity.pub").decode(), PASS.encode(),
                                  home=self.envoys["c"]["HOME"])
        before = nacl.signing.SigningKey(seed).sign(b"signed before").signature.hex()
        self.evict_c()
        new = self.pub("a")
        self.assertEqual(self.on("b", "accept", "--from", "a-host", os.path.join(self.state("a"), "envelope.json")).returncode, 0)
        # History verifies against the old key, named.
        p = self.on("b", "verify", "--sig", before, "--pub", self.old, input_data=b"signed before")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The puddle is the new key now: the old key's signature, made before or after, is not the puddle's.
        after = nacl.signing.SigningKey(seed).sign(b"signed after").signature.hex()
        for name in ("a", "b"):
            for data, sig in ((b"signed before", before), (b"signed after", after)):
                p = self.on(name, "verify", "--sig", sig, input_data=data)
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertIn(b"not made by " + new.encode(), p.stderr)
        # And the old key cannot lead the puddle anywhere: a rotation it signs alone forks the log
        # (test_two_evictions_from_different_members_are_a_fork).

    def test_b_opens_its_entry_independently(self):
        """The envelope format read by PyNaCl alone (docs/formats.md)."""
        self.evict_c()
        doc = json.loads(self.read_in("a", "envelope.json"))
        import base64
        import nacl.bindings
        secret = nacl_unwrap.envoy_secret(self.envoys["b"]["HOME"])
        pk, sk = nacl.bindings.crypto_box_seed_keypair(nacl_unwrap.kdf_subkey(secret, 2, b"puddlebx"))
        (r,) = doc["recipients"]
        self.assertEqual(r["envoy"], "x25519:" + pk.hex())
        k = nacl.bindings.crypto_box_seal_open(base64.b64decode(r["key"]), pk, sk)
        ad = ("puddle-envelope-v2\n%s\n%s\n%d\n%s\n%s\n" % (doc["old"], doc["new"], doc["generation"], r["envoy"],
                                                           base64.b64decode(doc["salt"]).hex())).encode()
        wrap = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            base64.b64decode(r["wrapped"]), ad, base64.b64decode(r["nonce"]), k)
        self.assertEqual(doc["wrap_digest"], "sha256:" + hashlib.sha256(wrap).hexdigest())
        seed = nacl_unwrap.unwrap(wrap, base64.b64decode(doc["salt"]), doc["new"] + "\n", PASS.encode())
        self.assertEqual("ed25519:" + bytes(nacl.signing.SigningKey(seed).verify_key).hex(), doc["new"])
        # The statement, signed by the old key, the new key and A's machine key.
        stmt = envelope_statement(doc)
        for key, sig in ((doc["old"], "sig_old"), (doc["new"], "sig_new"), (doc["maker"]["signer"], "sig_maker")):
            nacl.signing.VerifyKey(bytes.fromhex(key[8:])).verify(stmt.encode(), base64.b64decode(doc[sig]))
        a_cert = json.loads(self.read_in("a", "envoy.json"))
        self.assertEqual(doc["maker"], {"host": "a-host", "envoy": a_cert["envoy"]["key"],
                                        "signer": a_cert["envoy"]["signer"]})
        # A's machine key is the Ed25519 key of its envoy secret's subkey 3 ("puddlesg").
        a_secret = nacl_unwrap.envoy_secret(self.envoys["a"]["HOME"])
        self.assertEqual(a_cert["envoy"]["signer"], "ed25519:" + bytes(
            nacl.signing.SigningKey(nacl_unwrap.kdf_subkey(a_secret, 3, b"puddlesg")).verify_key).hex())

    def test_an_altered_envelope_is_refused_and_changes_nothing(self):
        self.evict_c()
        doc = json.loads(self.read_in("a", "envelope.json"))
        before = {f: self.read_in("b", f) for f in ("identity.wrapped", "identity.pub")}
        import base64
        cases = []
        d = json.loads(json.dumps(doc))
        d["evicted"] = []  # hide who was evicted
        cases.append((d, b"does not verify under the old key's signature"))
        d = json.loads(json.dumps(doc))
        w = bytearray(base64.b64decode(d["recipients"][0]["wrapped"]))
        w[5] ^= 1
        d["recipients"][0]["wrapped"] = base64.b64encode(bytes(w)).decode()
        cases.append((d, b"the envelope was altered"))
        d = json.loads(json.dumps(doc))
        d["generation"] = 2
        cases.append((d, b"holds 1 records"))
        d = json.loads(json.dumps(doc))
        d["salt"] = base64.b64encode(bytes(16)).decode()  # bound by the statement
        cases.append((d, b"does not verify under the old key's signature"))
        for d, needle in cases:
            p = self.on("b", "accept", "--from", "a-host", "-", input_data=json.dumps(d).encode())
            self.assertNotEqual(p.returncode, 0, needle)
            self.assertIn(needle, p.stderr)
            self.assertEqual({f: self.read_in("b", f) for f in before}, before)
        for junk, needle in ((b"", b"cannot read standard input"), (b"{", b"cannot read standard input"),
                             (b"x" * (5 << 20), b"larger than")):
            p = self.on("b", "accept", "--from", "a-host", "-", input_data=junk)
            self.assertIn(p.returncode, (1, 2))
            self.assertIn(needle, p.stderr)

    def test_two_evictions_from_different_members_are_a_fork(self):
        self.make_fork()

    def make_fork(self):
        # B learns C too, then both A and B evict C on their own.
        self.write_members("b", [self.record_of("a", "joined"), self.record_of("c")])
        envelope_a = self.evict_c()
        p = self.on("b", "evict", "--passphrase-fd", "FD", "c-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        b_key = self.pub("b")
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=envelope_a)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"the rotation log forks", p.stderr)
        self.assertEqual(self.pub("b"), b_key)  # neither accepted
        st = strict_json(self.on("b", "status", "--json").stdout)
        self.assertEqual(st["health"]["state"], "degraded", st)
        self.assertTrue(any("fork" in r for r in st["health"]["reasons"]), st)
        self.assertIn(b"puddle accept --settle --from HOST FILE", p.stderr)
        return envelope_a, b_key

    def test_a_fork_is_settled_for_the_other_member(self):
        envelope_a, b_key = self.make_fork()
        a_key = self.pub("a")
        p = self.on("b", "accept", "--settle", "--from", "a-host", "-", input_data=envelope_a)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"settled: dropped the rotation " + self.old.encode() + b" -> " + b_key.encode(), p.stdout)
        self.assertEqual(self.pub("b"), a_key)
        log = json.loads(self.read_in("b", "retired_puddles.json"))
        self.assertEqual([(r["old"], r["new"]) for r in log], [(self.old, a_key)])
        st = strict_json(self.on("b", "status", "--json").stdout)
        self.assertFalse(any("fork" in r for r in st["health"]["reasons"]), st["health"])
        self.signs_with_new_key("b", a_key)
        # Settled once: the same envelope again changes nothing.
        self.assertEqual(self.on("b", "accept", "--from", "a-host", "-", input_data=envelope_a).returncode, 0)

    def test_a_fork_is_settled_for_this_member_with_its_own_envelope(self):
        _, b_key = self.make_fork()
        p = self.on("b", "accept", "--settle", "--from", "b-host", os.path.join(self.state("b"), "envelope.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"settled: dropped the rotation " + self.old.encode() + b" -> " + self.pub("a").encode(), p.stdout)
        self.assertEqual(self.pub("b"), b_key)
        st = strict_json(self.on("b", "status", "--json").stdout)
        self.assertFalse(any("fork" in r for r in st["health"]["reasons"]), st["health"])
        # Settling again finds nothing to settle.
        self.assertEqual(self.on("b", "accept", "--settle", "--from", "b-host",
                                 os.path.join(self.state("b"), "envelope.json")).stdout,
                         b"no fork on the way to " + b_key.encode() + b"; nothing changed\n")

    def test_evict_refuses_unknown_hosts_and_itself(self):
        p = self.on("a", "evict", "--passphrase-fd", "FD", "nobody", passphrases=[PASS])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no member named", p.stderr)
        p = self.on("a", "evict", "--passphrase-fd", "FD", "a-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"a machine cannot evict itself", p.stderr)
        p = self.on("a", "evict", "--passphrase-fd", "FD", "c-host", passphrases=["wrong"])
        self.assertEqual(p.returncode, 5)
        self.assertEqual(self.pub("a"), self.old)
        self.assertEqual(self.on("a", "evict").returncode, 2)
        self.assertEqual(self.on("b", "accept").returncode, 2)


class Attacks(EnvoysCase):
    """Issue 23, items 1 and 2: the envelope as someone on its path, and as
    the evicted machine, would forge it -- written with PyNaCl from
    docs/formats.md, not with puddle's code."""

    def b_files(self):
        return {f: self.read_in("b", f) for f in sorted(os.listdir(self.state("b")))
                if os.path.isfile(os.path.join(self.state("b"), f))}

    def assert_b_unchanged(self, before):
        self.assertEqual(self.b_files(), before)
        # The passphrase still opens B's identity, and it is still the old key.
        seed = nacl_unwrap.unwrap(self.read_in("b", "identity.wrapped"), self.read_in("b", "identity.salt"),
                                  self.read_in("b", "identity.pub").decode(), PASS.encode(),
                                  home=self.envoys["b"]["HOME"])
        self.assertEqual("ed25519:" + bytes(nacl.signing.SigningKey(seed).verify_key).hex(), self.old)

    def test_a_rewritten_entry_is_refused_and_the_passphrase_still_opens(self):
        import nacl.bindings
        import nacl.public
        self.evict_c()
        doc = json.loads(self.read_in("a", "envelope.json"))
        (r,) = doc["recipients"]
        # With public data only: a fresh key sealed to B's envoy key, a PUDDLEW1 blob of the
        # attacker's (Argon2id cost of its choosing) under the right associated data.
        k = os.urandom(32)
        r["key"] = base64.b64encode(nacl.public.SealedBox(nacl.public.PublicKey(bytes.fromhex(r["envoy"][7:])))
                                    .encrypt(k)).decode()
        planted = b"PUDDLEW1" + bytes([1]) + (32).to_bytes(4, "big") + (1 << 20).to_bytes(4, "big") + bytes(1)
        planted += os.urandom(90 - len(planted))
        nonce = os.urandom(24)
        ad = ("puddle-envelope-v2\n%s\n%s\n%d\n%s\n%s\n" % (doc["old"], doc["new"], doc["generation"], r["envoy"],
                                                           base64.b64decode(doc["salt"]).hex())).encode()
        r["nonce"] = base64.b64encode(nonce).decode()
        r["wrapped"] = base64.b64encode(
            nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(planted, ad, nonce, k)).decode()
        before = self.b_files()
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=json.dumps(doc).encode())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"it holds another key than the one the envelope's signatures name", p.stderr)
        self.assert_b_unchanged(before)
        # ... and the genuine envelope is still taken afterwards.
        p = self.on("b", "accept", "--from", "a-host", os.path.join(self.state("a"), "envelope.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.pub("b"), self.pub("a"))

    def test_the_evicted_machine_cannot_race_the_real_envelope(self):
        # C, which A is about to evict, knows A and B (certificates as pairing hands them out)
        # and still has the old key and the passphrase: it "evicts" A first.
        self.write_members("c", [self.record_of("a", "joined"), self.record_of("b")])
        self.write_members("b", [self.record_of("a", "joined"), self.record_of("c")])  # C is a member B knows
        p = self.on("c", "evict", "--passphrase-fd", "FD", "--envelope", "-", "a-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        rival = p.stdout
        self.assertEqual(json.loads(rival)["maker"]["host"], "c-host")
        before = self.b_files()
        # No terminal and no --from: refused before anything is read, naming the flag.
        p = self.on("b", "accept", "-", input_data=rival)  # run_puddle: no controlling terminal
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"--from HOST", p.stderr)
        # The user expects A's envelope: C's is refused, shows its maker, and records nothing (no fork).
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=rival)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn(b"made by c-host", p.stderr)
        self.assertIn(b"evicts: a-host", p.stderr)
        self.assert_b_unchanged(before)
        # A machine key prefix names the maker as well as a host name does (and a wrong one refuses).
        a_signer = json.loads(self.read_in("a", "envoy.json"))["envoy"]["signer"]
        p = self.on("b", "accept", "--from", a_signer[8:20], "-", input_data=rival)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assert_b_unchanged(before)
        # A's genuine envelope then goes through: C's attempt left no fork behind.
        self.evict_c()
        p = self.on("b", "accept", "--from", a_signer[8:24], os.path.join(self.state("a"), "envelope.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"made by a-host", p.stdout)
        self.assertEqual(self.pub("b"), self.pub("a"))

    def test_an_envelope_from_a_maker_no_member_certified_is_refused(self):
        """The evicted machine with the old key writes an envelope by hand (PyNaCl): every
        signature verifies, but the machine key that signs is certified by nobody B knows."""
        import nacl.bindings
        import nacl.public
        self.evict_c()
        doc = json.loads(self.read_in("a", "envelope.json"))
        old_seed = nacl_unwrap.unwrap(self.read_in("c", "identity.wrapped"), self.read_in("c", "identity.salt"),
                                      self.read_in("c", "identity.pub").decode(), PASS.encode(),
                                      home=self.envoys["c"]["HOME"])
        old = nacl.signing.SigningKey(old_seed)
        new = nacl.signing.SigningKey.generate()
        machine = nacl.signing.SigningKey.generate()
        new_pub = "ed25519:" + bytes(new.verify_key).hex()
        at = doc["at"] + 1
        stmt = "puddle-statement-rekey-v1\n%s\n%s\n%d\n" % (self.old, new_pub, at)
        rec = {"v": 1, "old": self.old, "new": new_pub, "at": at,
               "sig_old": base64.b64encode(old.sign(stmt.encode()).signature).decode(),
               "sig_new": base64.b64encode(new.sign(stmt.encode()).signature).decode()}
        forged = dict(doc, new=new_pub, at=at, retired=[rec],
                      maker={"host": "a-host", "envoy": doc["maker"]["envoy"],
                             "signer": "ed25519:" + bytes(machine.verify_key).hex()})
        text = envelope_statement(forged).encode()
        forged["sig_old"] = base64.b64encode(old.sign(text).signature).decode()
        forged["sig_new"] = base64.b64encode(new.sign(text).signature).decode()
        forged["sig_maker"] = base64.b64encode(machine.sign(text).signature).decode()
        before = self.b_files()
        p = self.on("b", "accept", "--from", "a-host", "-", input_data=json.dumps(forged).encode())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"is not a certified member of this machine's view", p.stderr)
        self.assert_b_unchanged(before)
        # An envelope of the older format (one signature, by the old key) is refused by name.
        p = self.on("b", "accept", "--from", "a-host", "-",
                    input_data=json.dumps(dict(doc, kind="puddle-envelope")).encode())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"an envelope of an older puddle", p.stderr)
        self.assert_b_unchanged(before)

    def test_a_receipt_tells_the_maker_and_a_forged_one_does_not(self):
        self.evict_c()
        new = self.pub("a")
        receipt_path = os.path.join(self.tmp, "receipt.json")
        p = self.on("b", "accept", "--from", "a-host", "--receipt", receipt_path,
                    os.path.join(self.state("a"), "envelope.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        receipt = json.loads(open(receipt_path).read())
        self.assertEqual(receipt, json.loads(self.read_in("b", "receipt.json")))
        self.assertEqual((receipt["host"], receipt["key"], receipt["generation"]), ("b-host", new, 1))
        # Independently: B's machine key signed it.
        stmt = "puddle-statement-receipt-v1\n%s\n%d\n%s\n%s\n%s\n%d\n" % (
            receipt["key"], receipt["generation"], receipt["host"], receipt["envoy"], receipt["machine"], receipt["at"])
        nacl.signing.VerifyKey(bytes.fromhex(receipt["machine"][8:])).verify(stmt.encode(),
                                                                             base64.b64decode(receipt["sig"]))
        # Altered on the way (another host named): refused, nothing recorded.
        forged = os.path.join(self.tmp, "forged.json")
        with open(forged, "w") as f:
            json.dump(dict(receipt, at=receipt["at"] + 1), f)
        members_before = self.read_in("a", "members.json")
        p = self.on("a", "members", "--took", forged)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"does not verify", p.stderr)
        self.assertEqual(self.read_in("a", "members.json"), members_before)
        # Signed by a machine key nobody certified: refused.
        m = nacl.signing.SigningKey.generate()
        other = dict(receipt, machine="ed25519:" + bytes(m.verify_key).hex())
        stmt = "puddle-statement-receipt-v1\n%s\n%d\n%s\n%s\n%s\n%d\n" % (
            other["key"], other["generation"], other["host"], other["envoy"], other["machine"], other["at"])
        other["sig"] = base64.b64encode(m.sign(stmt.encode()).signature).decode()
        with open(forged, "w") as f:
            json.dump(other, f)
        p = self.on("a", "members", "--took", forged)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"no member of this machine's view has the machine key", p.stderr)
        # The genuine one: recorded, and A stops waiting for B.
        p = self.on("a", "members", "--took", receipt_path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"recorded: b-host holds " + new.encode() + b" (its receipt verifies)", p.stdout)
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertEqual((st["delivery"]["waiting"], st["delivery"]["taken"]), ([], ["b-host"]), st)

    def test_an_imported_bundle_with_a_ruinous_kdf_is_refused_before_any_derivation(self):
        bundle = json.loads(self.on("a", "export", "-").stdout)
        w = bytearray(base64.b64decode(bundle["wrapped"]))
        w[9:17] = (32).to_bytes(4, "big") + (1 << 20).to_bytes(4, "big")  # 32 passes of 1 GiB
        bundle["wrapped"] = base64.b64encode(bytes(w)).decode()
        home = os.path.join(self.tmp, "d")
        os.makedirs(home)
        self.envoys["d"] = dict(HOME=home, PUDDLE_HOME=os.path.join(home, "state"))
        started = time.monotonic()
        p = self.on("d", "import", "--passphrase-fd", "FD", "-", passphrases=[PASS],
                    input_data=json.dumps(bundle).encode())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"its Argon2id cost (32 passes x 1024 MiB) is above what puddle takes from elsewhere", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state("d"), "identity.pub")))
        print(f"\nrefused in {time.monotonic() - started:.2f} s", file=sys.stderr)


class KilledMidway(EnvoysCase):
    """SIGKILL at random instants of evict and of accept never tears an
    identity: the next command finds the old key or the new one, whole,
    unwrapping with the passphrase, and nothing half-written."""
    RUNS = int(os.environ.get("PUDDLE_CRASH_RUNS", "25"))

    def spawn(self, name, *args, stdin_path=None, passphrase=None):
        fds, r = (), None
        if passphrase is not None:
            r, w = os.pipe()
            os.write(w, (passphrase + "\n").encode())
            os.close(w)
            fds = (r,)
            args = [str(r) if a == "FD" else a for a in args]
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            return subprocess.Popen(self.argv(name, *args), env=dict(self.env, **self.envoys[name]), pass_fds=fds,
                                    stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            if r is not None:
                os.close(r)
            if stdin_path:
                stdin.close()

    def whole(self, name, keys, label):
        q = self.on(name, "pubkey")
        self.assertEqual(q.returncode, 0, f"{label}: {q.stderr!r}")
        pub = q.stdout.decode().strip()
        self.assertIn(pub, keys() if callable(keys) else keys, label)
        st = self.state(name)
        self.assertEqual([n for n in os.listdir(st) if n.startswith(".tmp-") or n == "identity.journal"], [], label)
        nacl_unwrap.unwrap(self.read_in(name, "identity.wrapped"), self.read_in(name, "identity.salt"),
                           pub + "\n", PASS.encode(), home=self.envoys[name]["HOME"])
        return pub

    def kill_at_random(self, p, duration, rng):
        time.sleep(rng.uniform(0, duration * 1.2))
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def test_evict_killed_at_random_instants(self):
        rng = random.Random(int(os.environ.get("PUDDLE_CRASH_SEED", "0")) or None)
        t = time.monotonic()
        self.assertEqual(self.spawn("a", "evict", "--passphrase-fd", "FD", "c-host", passphrase=PASS).wait(), 0)
        duration = time.monotonic() - t
        outcomes = {"old": 0, "new": 0}
        for i in range(self.RUNS):
            self.write_members("a", self.a_members)  # C back in the view, to evict again
            before = self.pub("a")
            p = self.spawn("a", "evict", "--passphrase-fd", "FD", "c-host", passphrase=PASS)
            self.kill_at_random(p, duration, rng)
            # read once the next command has finished what the kill interrupted
            pub = self.whole("a", lambda: self.keys_after(before), f"evict run {i}")
            if pub == before:
                outcomes["old"] += 1
            else:
                outcomes["new"] += 1
                log = json.loads(self.read_in("a", "retired_puddles.json"))
                self.assertEqual((log[-1]["old"], log[-1]["new"]), (before, pub), f"evict run {i}")
        print(f"\n{self.RUNS} kills of evict over {duration * 1000:.0f} ms: {outcomes}", file=sys.stderr)
        self.assertGreater(outcomes["old"] + outcomes["new"], 0)

    def keys_after(self, before):
        """The key before, or any key the log leads to from it."""
        keys = {before}
        try:
            for rec in json.loads(self.read_in("a", "retired_puddles.json")):
                if rec["old"] in keys:
                    keys.add(rec["new"])
        except FileNotFoundError:
            pass
        return keys

    def test_accept_killed_at_random_instants(self):
        rng = random.Random(int(os.environ.get("PUDDLE_CRASH_SEED", "0")) or None)
        self.assertEqual(self.on("a", "evict", "--passphrase-fd", "FD", "c-host", passphrases=[PASS]).returncode, 0)
        new, old = self.pub("a"), self.old
        envelope = os.path.join(self.state("a"), "envelope.json")
        snapshot = os.path.join(self.tmp, "b-before")
        shutil.copytree(self.state("b"), snapshot)
        t = time.monotonic()
        self.assertEqual(self.spawn("b", "accept", "--from", "a-host", "-", stdin_path=envelope).wait(), 0)
        duration = time.monotonic() - t
        outcomes = {"old": 0, "new": 0}
        for i in range(self.RUNS):
            shutil.rmtree(self.state("b"))
            shutil.copytree(snapshot, self.state("b"))
            p = self.spawn("b", "accept", "--from", "a-host", "-", stdin_path=envelope)
            self.kill_at_random(p, duration, rng)
            pub = self.whole("b", {old, new}, f"accept run {i}")
            outcomes["old" if pub == old else "new"] += 1
            # Whatever the kill left, accepting again finishes the job.
            q = self.on("b", "accept", "--from", "a-host", envelope)
            self.assertEqual(q.returncode, 0, f"accept run {i}: {q.stderr!r}")
            self.assertEqual(self.pub("b"), new)
        print(f"\n{self.RUNS} kills of accept over {duration * 1000:.0f} ms: {outcomes}", file=sys.stderr)


if __name__ == "__main__":
    main()

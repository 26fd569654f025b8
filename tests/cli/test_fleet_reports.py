"""Machine reports through a carrier (issue 25): three machines of one user --
three $HOMEs (three envoy secrets), each command in its own UTS namespace
(its own host name, as tests/cli/test_evict.py does) and network namespace
(no network: the carrier is all they share) -- share a carrier
directory, first a plain directory, then clones of a bare git repository that
the test itself pulls and pushes with plain git (no git code of puddle's).
B and C join by `import` only; nobody writes members.json by hand: what they
know of each other comes from the reports."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nacl_unwrap  # noqa: E402
from cli_common import main, FAST_KDF, PuddleCase, strict_json  # noqa: E402
from test_evict import can_unshare_uts  # noqa: E402

PASS = "the one passphrase"


@unittest.skipUnless(can_unshare_uts("--net"), "SKIP: cannot make UTS and network namespaces here (unshare --uts "
                     "--net), so three machines cannot have three host names and no network")
class FleetCase(PuddleCase):
    hosts = {"a": "a-host", "b": "b-host", "c": "c-host"}
    git = False

    def setUp(self):
        super().setUp()
        self.carrier = os.path.join(self.tmp, "carrier")
        if self.git:
            if not shutil.which("git"):
                self.skipTest("SKIP: git is not installed")
            self.run_git(self.tmp, "init", "-q", "--bare", self.carrier + ".git")
            seed = os.path.join(self.tmp, "seed")
            self.run_git(self.tmp, "clone", "-q", self.carrier + ".git", seed)
            with open(os.path.join(seed, "README"), "w") as f:
                f.write("puddle machine reports\n")
            self.run_git(seed, "add", "README")
            self.run_git(seed, "commit", "-q", "-m", "carrier")
            self.run_git(seed, "push", "-q", "origin", "HEAD")
        self.envoys = {}
        for name in self.hosts:
            home = os.path.join(self.tmp, name)
            xdg = os.path.join(home, "config")
            os.makedirs(os.path.join(xdg, "puddle"))
            carrier = self.carrier
            if self.git:
                carrier = os.path.join(home, "carrier")
                self.run_git(self.tmp, "clone", "-q", self.carrier + ".git", carrier)
            with open(os.path.join(xdg, "puddle", "puddle.toml"), "w") as f:
                f.write(FAST_KDF + '[fleet]\ndirectory = "%s"\n' % carrier)
            self.envoys[name] = dict(HOME=home, PUDDLE_HOME=os.path.join(home, "state"), XDG_CONFIG_HOME=xdg,
                                     carrier=carrier)
        self.assertEqual(self.on("a", "init", "--passphrase-fd", "FD", passphrases=[PASS]).returncode, 0)
        self.bundle = self.on("a", "export", "-").stdout
        for name in list(self.hosts)[1:]:
            p = self.on(name, "import", "--passphrase-fd", "FD", "-", passphrases=[PASS], input_data=self.bundle)
            self.assertEqual(p.returncode, 0, p.stderr)

    # ---- helpers

    def run_git(self, cwd, *args):
        p = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
                            "init.defaultBranch=main", *args], cwd=cwd, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def carry(self, name, push=True):
        """What the user's sync does: with git, pull (and push what this machine wrote)."""
        if not self.git:
            return
        c = self.envoys[name]["carrier"]
        self.run_git(c, "add", "-A")
        if subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=c).returncode != 0:
            self.run_git(c, "commit", "-q", "-m", "report of " + name)
        self.run_git(c, "pull", "-q", "--rebase", "origin", "HEAD")
        if push:
            self.run_git(c, "push", "-q", "origin", "HEAD")

    def prefix(self, name):
        # Each machine in a host name and a network of its own (nothing but a down loopback): the reports
        # travel only through the carrier directory, never a network puddle opens.
        return ["unshare", "--uts", "--net", "--", "sh", "-c", 'hostname "$0" && exec "$@"', self.hosts[name]]

    def on(self, name, *args, passphrases=None, input_data=None):
        env = {k: v for k, v in self.envoys[name].items() if k != "carrier"}
        return self.run_puddle(*args, passphrases=passphrases, input_data=input_data, timeout=60, env_extra=env,
                               prefix=self.prefix(name))

    def fleet(self, name):
        """puddle fleet --json on `name`, between two carrier syncs."""
        self.carry(name, push=False)
        p = self.on(name, "fleet", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.carry(name)
        return strict_json(p.stdout)

    def rounds(self, n=2):
        for _ in range(n):
            for name in self.hosts:
                self.fleet(name)

    def machines(self, doc):
        return {m["host"]: m for m in doc["machines"]}

    def report_file(self, name):
        with open(os.path.join(self.envoys[name]["PUDDLE_HOME"], "envoy.json")) as f:
            machine = json.load(f)["envoy"]["signer"]
        return os.path.join(self.envoys["a"]["carrier"] if not self.git else self.envoys[name]["carrier"],
                            machine[8:24] + ".report")

    def pub(self, name):
        with open(os.path.join(self.envoys[name]["PUDDLE_HOME"], "identity.pub")) as f:
            return f.read().strip()


class DirectoryCarrier(FleetCase):
    def test_import_joined_machines_learn_each_other_and_take_the_next_envelope(self):
        # A reads B's and C's first reports, written when they knew only A: they see other members than A
        # does now, a warning until they read the carrier again.
        self.fleet("a")
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertIn("sees other members", json.dumps(st["health"]))
        self.rounds()
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertNotIn("sees other members", json.dumps(st["health"]))
        for name in ("a", "b", "c"):
            doc = self.fleet(name)
            ms = self.machines(doc)
            self.assertEqual(sorted(ms), ["a-host", "b-host", "c-host"], doc)
            self.assertEqual(len({m["machine"] for m in doc["machines"]}), 3)
            self.assertTrue(all(m["generation"] == 0 and not m["behind"] and not m["evicted"] for m in ms.values()))
            self.assertEqual(doc["refused"], [], doc)
        # A learned B and C from their reports: a notice in status, members in its view.
        st = strict_json(self.on("a", "status", "--json").stdout)
        self.assertTrue(any(n.startswith("new machine joined: b-host") for n in st["notices"]), st["notices"])
        members = strict_json(self.on("a", "members", "--json").stdout)["members"]
        self.assertEqual(sorted(m["host"] for m in members), ["a-host", "b-host", "c-host"])
        # B knew only A (from the bundle) when it imported; C reached it through the reports:
        # B's eviction of A seals the next generation to C, which takes it.
        p = self.on("b", "evict", "--passphrase-fd", "FD", "a-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.envoys["b"]["PUDDLE_HOME"], "envelope.json"), "rb") as f:
            env = strict_json(f.read())
        self.assertEqual([r["host"] for r in env["recipients"]], ["c-host"])
        self.carry("b")
        # Until C takes it, C is behind on B; on C, B's report is of a generation C does not know yet.
        doc = self.fleet("b")
        self.assertTrue(self.machines(doc)["c-host"]["behind"], doc)
        doc = self.fleet("c")
        self.assertTrue(any("newer than the 0 held here" in r["why"] for r in doc["refused"]), doc["refused"])
        p = self.on("c", "accept", "--from", "b-host", os.path.join(self.envoys["b"]["PUDDLE_HOME"], "envelope.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.pub("c"), self.pub("b"))
        self.carry("c")
        doc = self.fleet("b")
        self.assertFalse(self.machines(doc)["c-host"]["behind"], doc)
        # A's reports from before its eviction are no news.
        st = strict_json(self.on("b", "status", "--json").stdout)
        self.assertNotIn("wrote a report at", json.dumps(st["health"]))
        # The evicted machine still writes, with the retired key: a day later (its fleet.json dated back a
        # day: nothing else changed there, B and C no longer seal to it) it rewrites its report. B and C
        # show it as evicted, do not take it back, and warn that it is still in use.
        time.sleep(1.1)  # the rotation log and the reports count whole seconds
        state = os.path.join(self.envoys["a"]["PUDDLE_HOME"], "fleet.json")
        with open(state) as f:
            doc = json.load(f)
        doc["written_at"] -= 86400 + 1
        with open(state, "w") as f:
            json.dump(doc, f)
        self.assertTrue(self.fleet("a")["wrote"])
        for name in ("b", "c"):
            doc = self.fleet(name)
            self.assertTrue(self.machines(doc)["a-host"]["evicted"], doc)
            self.assertTrue(any("evicted" in r["why"] for r in doc["refused"]), doc["refused"])
            st = strict_json(self.on(name, "status", "--json").stdout)
            self.assertEqual(st["health"]["state"], "warning", st["health"])
            self.assertIn("was evicted at", json.dumps(st["health"]))
            self.assertIn("wrote a report at", json.dumps(st["health"]))
            members = strict_json(self.on(name, "members", "--json").stdout)["members"]
            self.assertNotIn("a-host", [m["host"] for m in members])

    def test_a_fork_seen_in_a_report_makes_health_degraded(self):
        self.rounds()
        # B and C each evict A on their own: two generations 1, two keys.
        for name in ("b", "c"):
            p = self.on(name, "evict", "--passphrase-fd", "FD", "a-host", passphrases=[PASS])
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotEqual(self.pub("b"), self.pub("c"))
        doc = self.fleet("b")
        self.assertTrue(any(r["why"].startswith("a fork") for r in doc["refused"]), doc["refused"])
        st = strict_json(self.on("b", "status", "--json").stdout)
        self.assertEqual(st["health"]["state"], "degraded", st["health"])

    def open_as(self, reader, path):
        """Independently (python3-nacl, docs/formats.md "Machine report"): the body of a report, opened with
        `reader`'s envoy secret, and whether the writer's machine key signed it."""
        import nacl.bindings
        import nacl.signing
        secret = nacl_unwrap.envoy_secret(self.envoys[reader]["HOME"])
        pk, sk = nacl.bindings.crypto_box_seed_keypair(nacl_unwrap.kdf_subkey(secret, 2, b"puddlebx"))
        with open(path, "rb") as f:
            doc = strict_json(f.read())
        for sealed in doc["keys"]:
            try:
                k = nacl.bindings.crypto_box_seal_open(base64.b64decode(sealed), pk, sk)
                break
            except Exception:
                continue
        else:
            return None
        plain = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            base64.b64decode(doc["box"]), b"puddle-fleet-report-v1", base64.b64decode(doc["nonce"]), k)
        body = json.loads(plain[64:])
        nacl.signing.VerifyKey(bytes.fromhex(body["machine"][8:])).verify(
            b"puddle-statement-fleet-report-v1\n" + plain[64:], plain[:64])
        return body

    def test_altered_replayed_and_rolled_back_reports_are_refused(self):
        self.rounds()
        path = self.report_file("b")
        with open(path, "rb") as f:
            old = f.read()
        # What the report says, read by an independent implementation on C; the carrier sees none of it.
        body = self.open_as("c", path)
        self.assertEqual((body["host"], body["pubkey"], body["generation"]), ("b-host", self.pub("b"), 0))
        self.assertEqual(sorted(m["host"] for m in body["members"]["list"]), ["a-host", "b-host", "c-host"])
        digest = hashlib.sha256("\n".join(sorted(m["machine"][8:] for m in body["members"]["list"])).encode()).hexdigest()
        self.assertEqual(body["members"]["digest"], digest)
        self.assertNotIn(b"b-host", old)
        # Altered: one byte of the box.
        doc = json.loads(old)
        box = bytearray(base64.b64decode(doc["box"]))
        box[len(box) // 2] ^= 1
        doc["box"] = base64.b64encode(bytes(box)).decode()
        with open(path, "w") as f:
            json.dump(doc, f)
        got = self.fleet("c")
        self.assertTrue(any("altered" in r["why"] for r in got["refused"]), got["refused"])
        st = strict_json(self.on("c", "status", "--json").stdout)
        self.assertIn("refused", json.dumps(st["health"]))
        # B writes again (its report went missing), C reads the newer one; the old one put back is a rollback.
        os.remove(path)
        self.fleet("b")
        self.assertEqual(self.fleet("c")["refused"], [])
        with open(path, "wb") as f:
            f.write(old)
        got = self.fleet("c")
        self.assertTrue(any("replayed or rolled back" in r["why"] for r in got["refused"]), got["refused"])
        # A symbolic link and a FIFO in place of reports are refused, not followed or waited on.
        carrier = self.envoys["c"]["carrier"]
        os.symlink("/dev/zero", os.path.join(carrier, "0000000000000000.report"))
        os.mkfifo(os.path.join(carrier, "1111111111111111.report"))
        got = self.fleet("c")
        why = " ".join(r["why"] for r in got["refused"])
        self.assertIn("symbolic link", why)
        self.assertIn("not a regular file", why)
        # 10,000 hostile entries: the reading stops at its bound, says so, and takes little time.
        for i in range(10000):
            with open(os.path.join(carrier, "%016x.report" % (i + 2**40)), "w") as f:
                f.write('{"v":1}')
        started = time.monotonic()
        got = self.fleet("c")
        self.assertLess(time.monotonic() - started, 20)
        self.assertIn("only the first were", got["problem"] or "")
        p = self.on("c", "status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)


class SameHostName(FleetCase):
    hosts = {"a": "a-host", "b": "twin", "c": "twin"}

    def test_two_machines_of_one_name_stay_two_and_a_rename_keeps_the_member(self):
        self.rounds()
        doc = self.fleet("a")
        twins = [m for m in doc["machines"] if m["host"] == "twin"]
        self.assertEqual(len(twins), 2, doc)
        self.assertNotEqual(twins[0]["short"], twins[1]["short"])
        members = strict_json(self.on("a", "members", "--json").stdout)["members"]
        self.assertEqual(sorted(m["host"] for m in members), ["a-host", "twin", "twin"])
        # The name is ambiguous to --took; the short machine key is not.
        p = self.on("a", "members", "--took", "twin")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"two machines are named", p.stderr)
        short = {m["short"]: m for m in twins}
        p = self.on("a", "members", "--took", twins[0]["short"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(twins[0]["short"], {m["short"] for m in twins})
        self.assertEqual(len(short), 2)
        # C renamed: a new certificate under the new name (import re-seals and certifies), same machine.
        self.hosts = dict(self.hosts, c="renamed")
        p = self.on("c", "import", "--passphrase-fd", "FD", "-", passphrases=[PASS], input_data=self.bundle)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.carry("c")
        doc = self.fleet("a")
        self.assertEqual(sorted(m["host"] for m in doc["machines"]), ["a-host", "renamed", "twin"], doc)
        members = strict_json(self.on("a", "members", "--json").stdout)["members"]
        self.assertEqual(sorted(m["host"] for m in members), ["a-host", "renamed", "twin"])


class FourMachines(FleetCase):
    hosts = {"a": "a-host", "b": "b-host", "c": "c-host", "d": "d-host"}

    def test_a_machine_that_misses_a_rotation_shows_as_behind_everywhere(self):
        self.rounds()
        # B rotates (evicting D): its envelope is sealed to A and C; A takes it, C does not (yet).
        p = self.on("b", "evict", "--passphrase-fd", "FD", "d-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        envelope = os.path.join(self.envoys["b"]["PUDDLE_HOME"], "envelope.json")
        p = self.on("a", "accept", "--from", "b-host", envelope)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.rounds()
        for name in ("a", "b"):
            doc = self.fleet(name)
            ms = self.machines(doc)
            self.assertEqual(doc["generation"], 1, doc)
            self.assertEqual((ms["c-host"]["generation"], ms["c-host"]["behind"]), (0, True), doc)
            self.assertFalse(ms["a-host"]["behind"] or ms["b-host"]["behind"], doc)
        # C itself is told where the newer generation is and how to take it.
        doc = self.fleet("c")
        self.assertTrue(any("newer than the 0 held here" in r["why"] and "puddle accept" in r["why"]
                            for r in doc["refused"]), doc["refused"])
        st = strict_json(self.on("c", "status", "--json").stdout)
        self.assertIn("newer than the 0 held here", json.dumps(st["health"]))
        # Once C takes it, nobody is behind.
        p = self.on("c", "accept", "--from", "b-host", envelope)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.rounds()
        for name in ("a", "b", "c"):
            doc = self.fleet(name)
            self.assertFalse(any(m["behind"] for m in doc["machines"] if not m["evicted"]), doc)
            self.assertFalse(any("newer than" in r["why"] for r in doc["refused"]), doc["refused"])


class GitCarrier(FleetCase):
    git = True

    def test_reports_through_a_bare_git_repository(self):
        self.rounds()
        for name in ("a", "b", "c"):
            self.assertEqual(sorted(self.machines(self.fleet(name))), ["a-host", "b-host", "c-host"])
        p = self.on("b", "evict", "--passphrase-fd", "FD", "a-host", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.carry("b")
        doc = self.fleet("b")
        self.assertTrue(self.machines(doc)["c-host"]["behind"], doc)


if __name__ == "__main__":
    main()

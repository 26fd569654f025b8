"""Issue 15: the command line tells the truth on every bad input. One test per
finding: the command, its exit code, its one-line message and its hint; the
state is unchanged where nothing should change; every --json output is read
as strict UTF-8 JSON. The cases that need a running agent are in
tests/integration/test_cli_agent.py."""
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

import nacl.signing

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import PuddleCase, strict_json  # noqa: E402

PASS = "correct horse"


def lines(data):
    return data.decode("utf-8", errors="strict").splitlines()


class Case(PuddleCase):
    def error(self, p, code):
        """The message and hint lines of a failed command, checked for shape."""
        self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
        out = lines(p.stderr)
        errs = [l for l in out if l.startswith("puddle: ") and not l.startswith(("puddle: warning:", "puddle: notice:"))]
        self.assertEqual(len(errs), 1, out)
        hints = [l for l in out if l.startswith("hint: ")]
        self.assertLessEqual(len(hints), 1, out)
        return errs[0], (hints[0] if hints else "")

    def status(self):
        p = self.run_puddle("status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return strict_json(p.stdout)

    def human_status(self):
        p = self.run_puddle("status")
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode("utf-8", errors="strict")

    def reasons(self):
        return self.status()["health"]["reasons"]


class FdOptions(Case):
    def test_every_fd_option_is_checked_before_anything_is_opened(self):
        self.init()
        before = self.snapshot()
        for verb in (["init", "--passphrase-fd", "9"],
                     ["rotate-passphrase", "--passphrase-fd", "9"],
                     ["rotate-passphrase", "--passphrase-fd", "0", "--new-passphrase-fd", "9"],
                     ["unlock", "--passphrase-fd", "9"],
                     ["rekey", "--passphrase-fd", "9"],
                     ["rekey", "--new-passphrase-fd", "9"],
                     ["join", "--from", "127.0.0.1", "--code", "1234-5678", "--passphrase-fd", "9"]):
            p = self.run_puddle(*verb, input_data=b"")
            msg, hint = self.error(p, 2)
            self.assertIn("--passphrase-fd 9: that file descriptor is not open" if "--new-passphrase-fd" not in verb
                          else "--new-passphrase-fd 9: that file descriptor is not open", msg, verb)
            self.assertIn("--help", hint)
        self.assertEqual(self.snapshot(), before)

    def test_rekey_refuses_both_new_passphrase_sources(self):
        self.init()
        p = self.run_puddle("rekey", "--new-passphrase", "--new-passphrase-fd", "0", input_data=b"x\n")
        msg, hint = self.error(p, 2)
        self.assertIn("--new-passphrase asks on the terminal and --new-passphrase-fd reads a descriptor", msg)
        self.assertEqual(hint, "hint: see 'puddle rekey --help'")

    def test_passphrase_longer_than_1024_bytes_is_a_usage_error(self):
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=["x" * 1025])
        msg, hint = self.error(p, 2)
        self.assertIn("longer than 1024 bytes", msg)
        self.assertIn("at most 1024 bytes", hint)
        self.assertFalse(os.path.exists(self.home))  # the failed init left no directory
        self.init("y" * 1024)

    def test_trailing_cr_is_not_part_of_the_passphrase(self):
        # Documented in puddle(1), PASSPHRASES: a CRLF file or terminal.
        self.init("crlf pass\r")
        p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                            passphrases=["crlf pass", "new"])
        self.assertEqual(p.returncode, 0, p.stderr)


class PairingCode(Case):
    """join and rekey --from take the code from the terminal or --code-fd; on
    the command line (readable by every local user) only with a warning."""

    def test_code_fd_is_checked_before_anything_is_opened(self):
        self.init()
        before = self.snapshot()
        for verb in (["join", "--from", "127.0.0.1", "--code-fd", "9", "--passphrase-fd", "0"],
                     ["rekey", "--from", "127.0.0.1", "--code-fd", "9", "--passphrase-fd", "0"],
                     ["rekey", "--code-fd", "9"]):
            p = self.run_puddle(*verb, input_data=b"")
            msg, hint = self.error(p, 2)
            self.assertIn("--code-fd 9: that file descriptor is not open", msg, verb)
            self.assertIn("--help", hint)
        self.assertEqual(self.snapshot(), before)

    def test_a_line_that_is_not_a_code_is_refused_before_anything_is_written(self):
        for line in ("1234-567", "12345-678", "abcd-efgh", "1234-5678-9", "x" * 5000, ""):
            p = self.run_puddle("join", "--from", "127.0.0.1:1", "--code-fd", "FD", "--passphrase-fd", "FD",
                                passphrases=[line, PASS])
            msg, hint = self.error(p, 2)
            self.assertIn("the pairing code from file descriptor", msg, line[:20])
            self.assertIn("is not a code: a pairing code is 8 digits, written NNNN-NNNN", msg)
            self.assertIn("the code 'puddle pair' printed on the other machine", hint)
            self.assertFalse(os.path.exists(self.home), line[:20])

    def test_both_code_options_are_a_usage_error(self):
        # Said before anything else is read (a broken configuration here).
        self.write_config("this is not [toml\n")
        for verb in (["join", "--from", "127.0.0.1:1"], ["rekey", "--from", "127.0.0.1:1"]):
            p = self.run_puddle(*verb, "--code", "1234-5678", "--code-fd", "FD", passphrases=["1234-5678"])
            msg, hint = self.error(p, 2)
            self.assertIn("--code and --code-fd both give the pairing code", msg)
            self.assertEqual(hint, f"hint: see 'puddle {verb[0]} --help'")
            self.assertNotIn(b"warning", p.stderr)

    def test_without_a_terminal_the_code_fd_is_named(self):
        p = self.run_puddle("join", "--from", "127.0.0.1:1", "--passphrase-fd", "FD", passphrases=[PASS])
        msg, hint = self.error(p, 2)
        self.assertIn("cannot ask for the pairing code: there is no terminal", msg)
        self.assertEqual(hint, "hint: pass it on a file descriptor with --code-fd N")
        self.assertFalse(os.path.exists(self.home))

    def test_code_fd_goes_with_from(self):
        self.init()
        p = self.run_puddle("rekey", "--code-fd", "FD", passphrases=["1234-5678"])
        msg, _ = self.error(p, 2)
        self.assertIn("a pairing code (--code-fd, --code) goes with --from", msg)

    def test_code_on_the_command_line_still_works_with_a_warning(self):
        # Port 1 on loopback: the verb goes on to connect (exit 1), after the warning.
        p = self.run_puddle("join", "--from", "127.0.0.1:1", "--code", "1234-5678", "--passphrase-fd", "FD",
                            passphrases=[PASS])
        msg, _ = self.error(p, 1)
        self.assertIn("cannot reach 127.0.0.1:1", msg)
        warnings = [l for l in lines(p.stderr) if l.startswith("puddle: warning:")]
        self.assertEqual(len(warnings), 1, p.stderr)
        self.assertIn("--code puts the pairing code on the command line", warnings[0])
        self.assertIn("any local user can read it and claim the code first", warnings[0])
        self.assertIn("pass it with --code-fd N", warnings[0])
        # A bad code there is refused like one from a descriptor, naming --code.
        p = self.run_puddle("join", "--from", "127.0.0.1:1", "--code", "12-34", "--passphrase-fd", "FD",
                            passphrases=[PASS])
        msg, _ = self.error(p, 2)
        self.assertIn("the pairing code from --code is not a code", msg)


class LogArguments(Case):
    def test_since_and_lines_are_checked_and_say_what_is_accepted(self):
        for bad in ("soon", "25:00", "2026-13-01", "-1y", ""):
            msg, hint = self.error(self.run_puddle("log", "--since", bad), 2)
            self.assertIn("--since %s: expected YYYY-MM-DD" % bad, msg)
            self.assertEqual(hint, "hint: see 'puddle log --help'")
        msg, _ = self.error(self.run_puddle("log", "--lines", "x"), 2)
        self.assertIn("'--lines' needs a non-negative integer", msg)
        msg, _ = self.error(self.run_puddle("log", "extra"), 2)


class StateDirectory(Case):
    def test_directory_open_to_others_is_refused_and_repaired_by_init(self):
        os.makedirs(self.home, mode=0o755)
        os.chmod(self.home, 0o755)
        p = self.run_puddle("pubkey")
        msg, hint = self.error(p, 1)
        self.assertIn(f"refusing to use state directory {self.home}: its mode is 0755, not 0700", msg)
        self.assertTrue(hint.startswith(f"hint: chmod 700 {self.home}"), hint)
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[PASS])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"notice: ", p.stderr)
        self.assertIn(b"its mode is now 0700", p.stderr)
        self.assertEqual(os.stat(self.home).st_mode & 0o777, 0o700)
        # A member's directory opened later: refused, and init repairs it
        # (saying so) before refusing to initialize twice.
        os.chmod(self.home, 0o750)
        msg, hint = self.error(self.run_puddle("pubkey"), 1)
        self.assertIn("0750", msg)
        self.assertEqual(self.status()["health"]["state"], "degraded")
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[PASS])
        msg, _ = self.error(p, 1)
        self.assertIn("already a member", msg)
        self.assertIn(b"its mode is now 0700", p.stderr)
        self.assertEqual(self.run_puddle("pubkey").returncode, 0)

    def test_group_writable_directory_is_not_repaired(self):
        self.init()
        os.chmod(self.home, 0o770)
        msg, hint = self.error(self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[PASS]), 1)
        self.assertIn("writable by its group", msg)
        self.assertEqual(os.stat(self.home).st_mode & 0o777, 0o770)

    def test_mode_0000_names_the_directory(self):
        self.init()
        os.chmod(self.home, 0)
        try:
            msg, hint = self.error(self.run_puddle("pubkey"), 1)
            self.assertIn(f"state directory {self.home}: its mode 0000 denies you access", msg)
            self.assertNotIn(".lock", msg)
            self.assertEqual(hint, f"hint: chmod 700 {self.home}")
            st = self.status()
            self.assertEqual(st["health"]["state"], "degraded")
        finally:
            os.chmod(self.home, 0o700)

    def test_shared_directory_gets_no_chmod_or_chown_advice(self):
        # /tmp as the state directory: owned by root, sticky, writable by all.
        # Run as an unprivileged user so that /tmp is not theirs.
        if os.geteuid() != 0:
            self.skipTest("SKIP: needs root to run puddle as another user")
        home = "/tmp"
        env = dict(self.env, PUDDLE_HOME=home, HOME="/nonexistent")
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", self.puddle_copy(),
                            "init", "--passphrase-fd", "0"], input=b"x\n", env=env, capture_output=True, timeout=30)
        msg, hint = self.error(p, 1)
        self.assertIn("refusing to use /tmp: directory is owned by root, not by you", msg)
        self.assertEqual(hint, "hint: use a directory of your own: set PUDDLE_HOME to one, or unset it for ~/.puddle")
        self.assertNotIn("chown", hint)
        # As root /tmp is root's own: still no "chmod 700 /tmp".
        p = self.run_puddle("pubkey", env_extra={"PUDDLE_HOME": home})
        msg, hint = self.error(p, 1)
        self.assertIn("writable by others", msg)
        self.assertNotIn("chmod", hint)

    def puddle_copy(self):
        """The binary where an unprivileged user can run it."""
        path = os.path.join(self.tmp, "bin", "puddle")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy2(os.environ["PUDDLE_BIN"], path)
        for d in (self.tmp, os.path.dirname(path)):
            os.chmod(d, 0o755)
        return path


class IdentityPub(Case):
    def test_world_writable_identity_pub_is_refused(self):
        self.init()
        os.chmod(self.file("identity.pub"), 0o666)
        for verb in (["pubkey"], ["verify", "--sig", "A" * 86 + "==", "/dev/null"]):
            msg, hint = self.error(self.run_puddle(*verb), 1)
            self.assertIn(f"refusing to use {self.file('identity.pub')}: file is writable by others (mode 0666)", msg)
            self.assertEqual(hint, f"hint: chmod 644 {self.file('identity.pub')}")
        self.assertIn("degraded", self.status()["health"]["state"])

    def test_identity_pub_of_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("SKIP: needs root to chown a file to another user")
        self.init()
        os.chown(self.file("identity.pub"), 65534, 65534)
        msg, hint = self.error(self.run_puddle("pubkey"), 1)
        self.assertIn("file is owned by nobody, not by you", msg)
        self.assertIn("as root: chown root " + self.file("identity.pub"), hint)
        st = self.status()
        self.assertEqual(st["health"]["state"], "degraded")
        self.assertTrue(any("identity.pub is owned by nobody" in r for r in st["health"]["reasons"]), st)


class StatusAlwaysReports(Case):
    """status on every corrupted state: exit 0, the full report, degraded,
    and a reason naming the file and the fix."""

    def check_degraded(self, name, *, pubkey_readable=True):
        st = self.status()
        self.assertTrue(st["initialized"])
        self.assertEqual(st["state_dir"], self.home)
        self.assertEqual(st["health"]["state"], "degraded", st)
        path = self.file(name)
        hits = [r for r in st["health"]["reasons"] if path in r and "fix" in r]
        self.assertTrue(hits, st["health"])
        if pubkey_readable:
            self.assertEqual(st["pubkey"] + "\n", self.read("identity.pub").decode())
        else:
            self.assertIsNone(st["pubkey"])
        for key in ("unlocked", "lock_deadline", "idle_timeout_s", "watch_pid", "agent_reachable", "pair_pending",
                    "rekey_pending", "name", "members", "hints"):
            self.assertIn(key, st)
        human = self.human_status()
        self.assertIn("health: degraded", human)
        self.assertIn("idle timeout:", human)
        self.assertIn(path, human)
        return hits

    def test_damaged_wrapped_files(self):
        self.init()
        good = self.read("identity.wrapped")
        for label, data in (("truncated", good[:40]), ("empty", b""), ("wrong magic", b"NOTPUDDL" + good[8:]),
                            ("unknown KDF", good[:8] + b"\x07" + good[9:]), ("over-long", good + b"x" * 5000)):
            with self.subTest(label):
                with open(self.file("identity.wrapped"), "wb") as f:
                    f.write(data)
                hits = self.check_degraded("identity.wrapped")
                self.assertTrue(any("restore" in h or "member" in h for h in hits), hits)

    def test_damaged_salt_and_pub(self):
        self.init()
        with open(self.file("identity.salt"), "wb") as f:
            f.write(b"short")
        self.check_degraded("identity.salt")
        self.init_again()
        with open(self.file("identity.pub"), "w") as f:
            f.write("ed25519:nothex\n")
        self.check_degraded("identity.pub", pubkey_readable=False)

    def init_again(self):
        shutil.rmtree(self.home)
        self.init()

    def test_unsafe_secret_files(self):
        self.init()
        for mode in (0o660, 0o666, 0o640):
            with self.subTest(oct(mode)):
                os.chmod(self.file("identity.wrapped"), mode)
                hits = self.check_degraded("identity.wrapped")
                self.assertTrue(any("chmod 600 " + self.file("identity.wrapped") in h for h in hits), hits)
        os.chmod(self.file("identity.wrapped"), 0o600)
        st = self.status()  # here only the agent is missing: a warning
        self.assertEqual(st["health"]["state"], "warning", st)
        self.assertFalse([r for r in st["health"]["reasons"] if "identity.wrapped" in r], st)

    def test_secret_file_of_another_user_or_a_link(self):
        self.init()
        target = os.path.join(self.tmp, "elsewhere.wrapped")
        shutil.move(self.file("identity.wrapped"), target)
        os.symlink(target, self.file("identity.wrapped"))
        hits = self.check_degraded("identity.wrapped")
        self.assertTrue(any("symbolic link" in h for h in hits), hits)
        os.unlink(self.file("identity.wrapped"))
        shutil.move(target, self.file("identity.wrapped"))
        if os.geteuid() == 0:
            os.chown(self.file("identity.wrapped"), 65534, 65534)
            hits = self.check_degraded("identity.wrapped")
            self.assertTrue(any("owned by nobody" in h for h in hits), hits)


class IncompleteIdentity(Case):
    def test_missing_salt_is_named_with_the_way_out(self):
        self.init()
        os.unlink(self.file("identity.salt"))
        st = self.status()
        self.assertFalse(st["initialized"])
        self.assertEqual(st["health"]["state"], "degraded")
        reason = st["health"]["reasons"][0]
        self.assertIn("incomplete identity in " + self.home, reason)
        self.assertIn("identity.salt is missing (identity.wrapped, identity.pub are there)", reason)
        self.assertTrue(any("puddle join" in h for h in st["hints"]), st["hints"])
        self.assertFalse(any(h.startswith("run 'puddle init'") for h in st["hints"]), st["hints"])
        self.assertIn("an incomplete identity is here", self.human_status())
        before = self.snapshot()
        for verb, code in ((["unlock", "--passphrase-fd", "FD"], 4), (["rotate-passphrase", "--passphrase-fd", "FD"], 4),
                           (["init", "--passphrase-fd", "FD"], 1)):
            msg, hint = self.error(self.run_puddle(*verb, passphrases=[PASS, PASS]), code)
            self.assertIn("incomplete identity in " + self.home, msg, verb)
            self.assertIn("identity.salt is missing", msg)
            self.assertIn("'puddle join --from HOST' here", hint)
        self.assertEqual(self.snapshot(), before)

    def test_missing_pub(self):
        self.init()
        os.unlink(self.file("identity.pub"))
        msg, hint = self.error(self.run_puddle("pubkey"), 4)
        self.assertIn("identity.pub is missing (identity.wrapped, identity.salt are there)", msg)


def make_claim(signing_key, name, at=1700000000):
    pub = "ed25519:" + signing_key.verify_key.encode().hex()
    msg = f"puddle-statement-name-v1\n{name}\n{pub}\n{at}\n".encode()
    sig = base64.b64encode(signing_key.sign(msg).signature).decode()
    return '{"v":1,"name":"%s","pubkey":"%s","at":%d,"sig":"%s"}\n' % (name, pub, at, sig)


class OwnNameClaim(Case):
    def write_claim(self, text):
        with open(self.file("name-claim.json"), "w") as f:
            f.write(text)
        os.chmod(self.file("name-claim.json"), 0o644)

    def test_malformed_claim_is_not_no_claim(self):
        self.init()
        self.write_claim('{"v":1,"name":"x"')
        msg, hint = self.error(self.run_puddle("name", "show"), 1)
        self.assertIn(self.file("name-claim.json") + " cannot be used: not valid JSON", msg)
        self.assertIn("puddle name set NAME", hint)
        st = self.status()
        self.assertEqual(st["health"]["state"], "warning")
        self.assertTrue(any("name-claim.json" in r for r in st["health"]["reasons"]), st)

    def test_claim_for_another_key(self):
        self.init()
        self.write_claim(make_claim(nacl.signing.SigningKey.generate(), "alice"))
        msg, hint = self.error(self.run_puddle("name", "show"), 1)
        self.assertIn('it claims "alice" for another key', msg)
        st = self.status()
        self.assertEqual(st["health"]["state"], "warning")
        self.assertTrue(any("for another key" in r for r in st["health"]["reasons"]), st)
        self.assertEqual(self.run_puddle("name", "clear").returncode, 0)
        p = self.run_puddle("name", "show")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"no name claimed", p.stdout)


class ClaimsDirectoryFullOfJunk(Case):
    def test_ten_thousand_files_are_bounded_and_summed_up(self):
        self.init()
        d = os.path.join(self.tmp, ".local", "share", "puddle", "names.d")
        os.makedirs(d)
        for i in range(10000):
            with open(os.path.join(d, f"junk{i}.json"), "w") as f:
                f.write("junk\n")
        st = self.status()
        claims = [r for r in st["health"]["reasons"] if "ignored claim" in r]
        self.assertLessEqual(len(claims), 12, claims)
        self.assertTrue(any("; only the first were" in r for r in claims), claims)  # a cap, named
        self.assertTrue(any("more files there are not usable claims either" in r for r in claims), claims)
        p = self.run_puddle("name", "resolve", "nobody")
        self.assertLessEqual(p.stderr.count(b"ignored claim"), 12, p.stderr)


class StaleSession(Case):
    def test_session_file_of_a_dead_agent_is_reported(self):
        self.init()
        dead = subprocess.Popen(["true"])
        dead.wait()
        pub = self.read("identity.pub").decode().strip()
        with open(self.file("session.unlocked"), "w") as f:
            f.write('{"agent_pid":%d,"watch_pid":0,"lock_deadline":%d,"idle_timeout_s":60,"pubkey":"%s"}\n'
                    % (dead.pid, int(time.time()) + 600, pub))
        os.chmod(self.file("session.unlocked"), 0o600)
        st = self.status()
        self.assertEqual(st["health"]["state"], "warning")
        hit = [r for r in st["health"]["reasons"] if "session.unlocked is stale" in r]
        self.assertTrue(hit, st)
        self.assertIn(f"PID {dead.pid}) is not running", hit[0])
        self.assertIn("fix: rm " + self.file("session.unlocked"), hit[0])


class Configuration(Case):
    def test_config_error_breaks_only_the_verbs_that_act_with_it(self):
        self.init()
        path = os.path.join(self.xdg, "puddle", "puddle.toml")
        self.write_config("[agent]\nidle_timeout_minutes = \"soon\"\n")
        for verb in (["status"], ["pubkey"], ["members"], ["name", "show"]):
            p = self.run_puddle(*verb)
            self.assertEqual(p.returncode, 0, (verb, p.stderr))
            if verb[0] in ("status", "name"):  # pubkey and members read no configuration
                self.assertIn(b"the whole file is ignored until that is fixed", p.stderr, verb)
        # resolve runs too (and finds no claimant: exit 1, its own message).
        p = self.run_puddle("name", "resolve", "alice")
        msg, _ = self.error(p, 1)
        self.assertIn('no key claims "alice"', msg)
        self.assertIn(b"the whole file is ignored until that is fixed", p.stderr)
        p = self.run_puddle("status", "--json")
        self.assertIn(f"puddle: warning: {path}:2: agent.idle_timeout_minutes".encode(), p.stderr)
        self.assertIn(b"the whole file is ignored until that is fixed", p.stderr)
        st = strict_json(p.stdout)
        self.assertEqual(st["health"]["state"], "degraded")
        self.assertTrue(any(r.startswith("degraded: configuration: " + path + ":2") for r in st["health"]["reasons"]))
        before = self.snapshot()
        for verb in (["rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD"],
                     ["unlock", "--passphrase-fd", "FD"], ["pair"]):
            msg, hint = self.error(self.run_puddle(*verb, passphrases=[PASS, "new"]), 1)
            self.assertIn(f"invalid configuration: {path}:2: agent.idle_timeout_minutes", msg, verb)
            self.assertEqual(hint, "hint: fix or remove that line of " + path)
        self.assertEqual(self.snapshot(), before)

    def test_number_too_large_names_key_and_range(self):
        path = os.path.join(self.xdg, "puddle", "puddle.toml")
        self.write_config("[kdf]\nopslimit = 1\n\n[agent]\nidle_timeout_minutes = 99999999999999999999\n")
        msg, hint = self.error(self.run_puddle("init", "--passphrase-fd", "FD", passphrases=[PASS]), 1)
        self.assertIn(f"{path}:5: agent.idle_timeout_minutes: the number is too large; the range is 1..527040", msg)
        self.assertEqual(hint, "hint: fix that line of " + path)
        self.assertFalse(os.path.exists(self.home))


class Members(Case):
    def test_members_after_init_lists_self(self):
        self.init()
        p = self.run_puddle("members")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = lines(p.stdout)
        host = os.uname().nodename
        machine = json.loads(self.read("envoy.json"))["envoy"]["signer"]
        self.assertTrue(out[1].split()[:2] == [host, "self"], out)
        m = strict_json(self.run_puddle("members", "--json").stdout)
        pub = self.read("identity.pub").decode().strip()
        self.assertEqual(m["pubkey"], pub)
        self.assertEqual(len(m["members"]), 1)
        me = m["members"][0]
        self.assertEqual(set(me), {"host", "since", "direction", "wrapped_digest", "pubkey", "same_wrap", "envoy_key", "generation",
                                   "machine"})
        self.assertEqual(me["machine"], machine)
        self.assertEqual((me["host"], me["direction"], me["pubkey"], me["same_wrap"]), (host, "self", pub, True))
        # init certified this machine's envoy key (the one identity.wrapped is sealed to).
        self.assertEqual(me["envoy_key"], "x25519:" + self.read("identity.wrapped")[12:44].hex())
        self.assertLessEqual(abs(me["since"] - time.time()), 60)
        self.assertEqual(self.status()["members"], 1)


class Echo(Case):
    def test_huge_argument_is_cut(self):
        p = self.run_puddle("status", "x" * 100000)
        msg, hint = self.error(p, 2)
        self.assertLess(len(p.stderr), 400)
        self.assertIn('unexpected argument "' + "x" * 40 + '..."', msg)
        p = self.run_puddle("--" + "y" * 100000)
        self.assertLess(len(p.stderr), 400)

    def test_control_characters_in_puddle_home_stay_on_one_line(self):
        home = os.path.join(self.tmp, "a\nb\x1b[31mred")
        p = self.run_puddle("pubkey", env_extra={"PUDDLE_HOME": home})
        msg, hint = self.error(p, 4)
        self.assertEqual(len(lines(p.stderr)), 2, p.stderr)
        self.assertNotIn(b"\x1b", p.stderr)
        self.assertIn("a\\x0ab\\x1b[31mred", msg)

    def test_non_utf8_puddle_home_gives_valid_json(self):
        home = os.path.join(self.tmp.encode(), b"st\xff\xfeate")
        env = {k.encode(): v.encode() for k, v in self.env.items()}
        env[b"PUDDLE_HOME"] = home
        p = subprocess.run([os.environ["PUDDLE_BIN"], "status", "--json"], env=env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        st = strict_json(p.stdout)
        self.assertTrue(st["state_dir"].endswith("st\ufffd\ufffdate"), st["state_dir"])
        p = subprocess.run([os.environ["PUDDLE_BIN"], "status"], env=env, capture_output=True, timeout=30)
        self.assertIn(b"st\\xff\\xfeate", p.stdout)


class Interrupted(Case):
    def test_interrupted_init_is_finished_and_said_once(self):
        self.init()
        journal = self.read("identity.salt") + self.read("identity.wrapped") + bytes.fromhex(
            self.read("identity.pub").decode().strip()[len("ed25519:"):])
        shutil.rmtree(self.home)
        os.makedirs(self.home, mode=0o700)
        # What an init killed right after its decision point leaves.
        with open(self.file("identity.journal"), "wb") as f:
            f.write(journal)
        os.chmod(self.file("identity.journal"), 0o600)
        p = self.run_puddle("init", "--passphrase-fd", "FD", passphrases=["another passphrase"])
        msg, hint = self.error(p, 1)
        self.assertIn("already a member", msg)
        notice = [l for l in lines(p.stderr) if l.startswith("puddle: notice:")]
        self.assertEqual(len(notice), 1, p.stderr)
        self.assertIn("finished an interrupted change of the identity", notice[0])
        self.assertIn("passphrase given to the command that was interrupted", notice[0])
        p = self.run_puddle("status")
        self.assertNotIn(b"notice", p.stderr)
        p = self.run_puddle("rotate-passphrase", "--passphrase-fd", "FD", "--new-passphrase-fd", "FD",
                            passphrases=[PASS, "new"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_failed_init_and_join_leave_no_directory(self):
        p = self.run_puddle("init")  # no terminal, no --passphrase-fd
        self.error(p, 2)
        self.assertFalse(os.path.exists(self.home))
        p = self.run_puddle("join", "--from", "127.0.0.1:1", "--code-fd", "FD", "--passphrase-fd", "FD",
                            passphrases=["1234-5678", PASS])
        msg, _ = self.error(p, 1)
        self.assertIn("cannot reach 127.0.0.1:1", msg)
        self.assertFalse(os.path.exists(self.home))


class NoUserManager(Case):
    def test_pair_without_a_user_manager(self):
        if not shutil.which("dbus-daemon"):
            self.skipTest("SKIP: dbus-daemon is not installed")
        self.init()
        rt = os.path.join(self.tmp, "run")
        os.makedirs(rt, mode=0o700)
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            address = bus.stdout.readline().decode().strip()
            p = self.run_puddle("pair", env_extra={"DBUS_SESSION_BUS_ADDRESS": address, "XDG_RUNTIME_DIR": rt})
            msg, hint = self.error(p, 1)
            self.assertIn("cannot start puddle-pair.socket: no systemd user manager runs for you on this bus", msg)
            self.assertIn("loginctl enable-linger", hint)
            self.assertFalse(os.path.exists(self.file("pair.pending")))
        finally:
            bus.terminate()
            bus.wait(timeout=10)


if __name__ == "__main__":
    unittest.main(verbosity=2)

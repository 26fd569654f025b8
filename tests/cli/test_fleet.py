"""puddle fleet --journal DIR as an administrator runs it: the refusals of a
missing, unreadable or odd directory, and the roll-up of journal files that
systemd-journal-remote made from exported entries (forged here: the booted
test, tests/boot/test_booted.py, has real agents write them)."""
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import FAST_KDF, PuddleCase, main, strict_json  # noqa: E402

REMOTE = "/lib/systemd/systemd-journal-remote"
STATUS_ID = "c98e52a5244646dbb87d03e6695091c3"


def key(c):
    return "ed25519:" + c * 64


def entry(uid, user, host, machine, pub, first, generation, unlocked, **extra):
    f = {"MESSAGE_ID": STATUS_ID, "MESSAGE": "status", "_SYSTEMD_USER_UNIT": "puddle-agent.service",
         "_UID": str(uid), "_HOSTNAME": host, "_BOOT_ID": "1" * 32, "_MACHINE_ID": "2" * 32,
         "PUDDLE_STATUS_V": "1", "PUDDLE_USER": user, "PUDDLE_KEY": key(pub), "PUDDLE_FIRST_KEY": key(first),
         "PUDDLE_NAME": "", "PUDDLE_HOST": host, "PUDDLE_MACHINE_KEY": key(machine),
         "PUDDLE_GENERATION": str(generation), "PUDDLE_UNLOCKED": "yes" if unlocked else "no",
         "PUDDLE_HEALTH": "healthy", "PUDDLE_HEALTH_REASONS": "", "PUDDLE_MEMBERS_DIGEST": "d" * 64}
    f.update(extra)
    return f


class Fleet(PuddleCase):
    def fleet(self, *args):
        return self.run_puddle("fleet", *args)

    def test_sync_is_quiet_with_nothing_to_do_and_fails_when_it_cannot_write(self):
        # What puddle-fleet.service runs for every user, hourly and on changes: no carrier, or no puddle,
        # is nothing to do (exit 0, one line), not a failed unit.
        p = self.fleet("--sync")
        self.assertEqual((p.returncode, p.stderr), (0, b""))
        self.assertIn(b"no carrier directory", p.stdout)
        carrier = os.path.join(self.tmp, "carrier")
        self.write_config(FAST_KDF + '[fleet]\ndirectory = "%s"\n' % carrier)
        p = self.fleet("--sync")
        self.assertEqual((p.returncode, p.stderr), (0, b""))
        self.assertIn(b"no puddle on this machine yet", p.stdout)
        self.assertFalse(os.path.exists(carrier))
        p = self.fleet("--sync", "--json")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.init()
        p = self.fleet("--sync")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"report rewritten", p.stdout)
        reports = os.listdir(carrier)
        self.assertEqual(len(reports), 1, reports)
        self.assertTrue(reports[0].endswith(".report"), reports)
        p = self.fleet("--sync")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"report unchanged", p.stdout)
        # A report the carrier lost is written again.
        os.unlink(os.path.join(carrier, reports[0]))
        p = self.fleet("--sync")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"report rewritten", p.stdout)
        self.assertEqual(os.listdir(carrier), reports)
        # A carrier that cannot be written: the unit fails, with the reason.
        os.unlink(os.path.join(carrier, reports[0]))
        os.rmdir(carrier)
        open(carrier, "w").close()
        p = self.fleet("--sync")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn(b"cannot update this machine's report", p.stderr)
        self.assertIn(b"hint: ", p.stderr)

    def test_refusals_say_what_and_why(self):
        # Without --journal it is this machine's own fleet (tests/cli/test_fleet_reports.py): here there is no
        # puddle, and the hint names the roll-up.
        p = self.fleet()
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn(b"--journal DIR", p.stderr)
        p = self.fleet("--html", os.path.join(self.tmp, "page.html"))
        self.assertEqual(p.returncode, 2, p.stderr)
        p = self.fleet("--journal", os.path.join(self.tmp, "absent"))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"No such file or directory", p.stderr)
        self.assertIn(b"hint: ", p.stderr)
        a_file = os.path.join(self.tmp, "file")
        open(a_file, "w").close()
        p = self.fleet("--journal", a_file)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"is not a directory", p.stderr)
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        p = self.fleet("--journal", empty)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no journal files", p.stderr)
        # A FIFO named like a journal file must not hang the reader.
        os.mkfifo(os.path.join(empty, "x.journal"))
        p = self.fleet("--journal", empty)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"is not a regular file", p.stderr)
        if os.geteuid() != 0:
            unreadable = os.path.join(self.tmp, "unreadable")
            os.mkdir(unreadable)
            with open(os.path.join(unreadable, "system.journal"), "w") as f:
                f.write("x")
            os.chmod(os.path.join(unreadable, "system.journal"), 0)
            p = self.fleet("--journal", unreadable)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"none of the 1 journal files", p.stderr)
            closed = os.path.join(self.tmp, "closed")
            os.mkdir(closed, 0)
            p = self.fleet("--journal", closed)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"systemd-journal group", p.stderr)

    def test_roll_up_of_journal_remote_files(self):
        if not os.path.exists(REMOTE):
            self.skipTest("systemd-journal-remote is not installed (scripts/install-deps.sh)")
        now = int(time.time() * 1e6)
        entries = [
            # alice: two machines; "two" still holds generation 0 of her puddle.
            entry(1000, "alice", "one", "a", "2", "1", 1, True, PUDDLE_NAME="alice"),
            entry(1000, "alice", "two", "b", "1", "1", 0, False),
            # bob: an older entry of the same machine and uid, then the newer.
            entry(1001, "bob", "one", "c", "3", "3", 0, True),
            entry(1001, "bob", "one", "c", "3", "3", 0, False, PUDDLE_HEALTH="degraded",
                  PUDDLE_HEALTH_REASONS="degraded: identity.wrapped is damaged"),
            # Malformed: left out with the reason.
            entry(1002, "carol", "one", "e", "4", "4", 0, False, PUDDLE_GENERATION="x"),
            # Not the agent's unit: not read at all.
            entry(1003, "mallory", "one", "f", "5", "5", 0, True, _SYSTEMD_USER_UNIT="evil.service"),
        ]
        text = ""
        for i, e in enumerate(entries):
            text += "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n" % (now + i, now + i)
            text += "".join("%s=%s\n" % kv for kv in e.items()) + "\n"
        export = os.path.join(self.tmp, "in.export")
        with open(export, "w") as f:
            f.write(text)
        out = os.path.join(self.tmp, "journal")
        os.mkdir(out)
        r = subprocess.run([REMOTE, "--output=%s/one.journal" % out, export], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        page = os.path.join(self.tmp, "fleet.html")
        p = self.fleet("--journal", out, "--json", "--html", page)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"left out an entry: PUDDLE_GENERATION is not a decimal number", p.stderr)
        report = strict_json(p.stdout)
        self.assertEqual(report["entries"], 5)
        self.assertEqual(report["refused"], 1)
        owners = {x["owner"]: x for x in report["puddles"]}
        self.assertEqual(sorted(owners), ["(unnamed)", "alice"])
        alice = owners["alice"]
        self.assertEqual((alice["machines"], alice["users"], alice["unlocked"]), (2, ["alice"], 1))
        self.assertEqual(alice["pubkey"], key("2"))
        self.assertEqual(alice["health"], "warning")
        self.assertIn("warning: alice@two is behind: it holds generation 0", alice["findings"][0])
        bob = owners["(unnamed)"]
        self.assertEqual((bob["machines"], bob["users"], bob["unlocked"]), (1, ["bob"], 0))
        self.assertEqual(bob["health"], "degraded")
        self.assertEqual(bob["findings"], ["bob@one: degraded: identity.wrapped is damaged"])
        self.assertEqual(stat.S_IMODE(os.stat(page).st_mode), 0o644)
        with open(page) as f:
            html = f.read()
        self.assertIn("alice@two is behind", html)
        # Without --json: one line per puddle, then its findings and machines.
        p = self.fleet("--journal", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"alice  2222222222222222  2 machines  users: alice  unlocked: 1  "
                                            b"health: warning\n"), p.stdout)


if __name__ == "__main__":
    main()

"""The administrator's roll-up of puddle-agent status entries (puddle
fleet --journal) as it is run: journals exported from the booted containers
(tests/boot/test_booted.py, test_12, leaves one per distro with two users'
puddles in FLEET_DIR), handed to systemd-journal-remote on the host, rolled up
by the host's puddle, the JSON and the HTML page checked against what the
containers' users hold. With a forged entry whose name and host are markup.

As a program (meson test 'fleet-rollup', after booted-debian12 and
booted-debian13): all four puddles of both containers on one page; the
page parsed, and rendered by a text-mode browser (w3m)."""
import html.parser as html_parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import booted  # noqa: E402
from agent_fixture import main as unittest_main  # noqa: E402  (meson's exit codes: 77 = skipped)
from cli_common import strict_json  # noqa: E402

STATUS_ID = "c98e52a5244646dbb87d03e6695091c3"
FLEET_DIR = os.path.join(booted.build_dir_for("debian12"), "fleet-journal")
REMOTE = "/lib/systemd/systemd-journal-remote"
PUDDLE = os.path.join(booted.build_dir_for("debian12"), "src", "puddle")
HOSTILE_NAME = "<script>alert('x')</script>"
HOSTILE_KEY = "ed25519:" + "ab" * 32


def export_paths(distro):
    return os.path.join(FLEET_DIR, distro + ".export"), os.path.join(FLEET_DIR, distro + ".users.json")


def save_export(distro, export, users):
    """What a distro's run leaves: the journal export and the users' puddles it holds."""
    os.makedirs(FLEET_DIR, exist_ok=True)
    e, u = export_paths(distro)
    with open(e, "wb") as f:
        f.write(export)
    with open(u, "w") as f:
        json.dump(users, f)


def hostile_export():
    fields = {"MESSAGE_ID": STATUS_ID, "MESSAGE": "forged", "_SYSTEMD_USER_UNIT": "puddle-agent.service",
              "_UID": "4242", "_HOSTNAME": "evil", "_BOOT_ID": "1" * 32, "_MACHINE_ID": "2" * 32,
              "PUDDLE_STATUS_V": "1", "PUDDLE_USER": "mallory", "PUDDLE_KEY": HOSTILE_KEY,
              "PUDDLE_FIRST_KEY": HOSTILE_KEY, "PUDDLE_NAME": HOSTILE_NAME, "PUDDLE_HOST": "<b>evil&amp;</b>",
              "PUDDLE_MACHINE_KEY": "", "PUDDLE_GENERATION": "0", "PUDDLE_UNLOCKED": "no",
              "PUDDLE_HEALTH": "warning", "PUDDLE_HEALTH_REASONS": "warning: <img src=x onerror=alert(1)>",
              "PUDDLE_MEMBERS_DIGEST": ""}
    stamp = int(time.time() * 1e6)
    text = "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n" % (stamp, stamp)
    return text + "".join("%s=%s\n" % kv for kv in fields.items()) + "\n"


class Page(html_parser.HTMLParser):
    """The roll-up page's rows (tr.puddle), cell by class, and every tag seen."""

    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.cell = set(), [], None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        cls = dict(attrs).get("class", "")
        if tag == "tr" and cls == "puddle":
            self.rows.append({})
        if tag == "td" and self.rows:
            self.cell = cls.split()[0] if cls else None
            self.rows[-1][self.cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None

    def handle_data(self, data):
        if self.cell and self.rows:
            self.rows[-1][self.cell] += data


def check_roll_up(tc, exports, expected):
    """Hands `exports` and the forged entry to systemd-journal-remote, rolls them up with puddle fleet
    --journal --json --html, and checks every puddle of `expected` ({user: {pub, unlocked, name, health}})
    and the forged one, on the JSON and the parsed page."""
    if not os.path.exists(REMOTE):
        tc.skipTest("systemd-journal-remote is not installed on the host (scripts/install-deps.sh)")
    work = tempfile.mkdtemp(prefix="puddle-fleet-")
    try:
        hostile = os.path.join(work, "hostile.export")
        with open(hostile, "w") as f:
            f.write(hostile_export())
        out = os.path.join(work, "journal")
        os.mkdir(out)
        for e in exports + [hostile]:
            r = subprocess.run([REMOTE, "--output=%s/%s.journal" % (out, os.path.basename(e).split(".")[0]), e],
                               capture_output=True, text=True, timeout=60)
            tc.assertEqual(r.returncode, 0, r.stderr)
        page = os.path.join(work, "fleet.html")
        r = subprocess.run([PUDDLE, "fleet", "--journal", out, "--json", "--html", page], capture_output=True,
                           text=True, timeout=60)
        tc.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        report = strict_json(r.stdout)
        with open(page) as f:
            html = f.read()
        rendered = render(tc, page, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by_key = {p["pubkey"]: p for p in report["puddles"]}
    tc.assertEqual(len(report["puddles"]), len(expected) + 1, report)
    for user, want in expected.items():
        p = by_key.get(want["pub"])
        tc.assertIsNotNone(p, "%s's puddle is not in %s" % (user, report))
        tc.assertEqual(p["users"], [user], p)
        tc.assertEqual(p["machines"], 1, p)
        tc.assertEqual(p["unlocked"], want["unlocked"], p)
        tc.assertEqual(p["health"], want["health"], p)
        tc.assertEqual(p["owner"], want["name"] or "(unnamed)", p)
        tc.assertIsNotNone(p["seats"][0]["machine_key"], p)
    tc.assertEqual(by_key[HOSTILE_KEY]["owner"], HOSTILE_NAME)
    parsed = Page()
    parsed.feed(html)
    for tag in ("script", "img", "b"):  # the forged entry's markup is text on the page
        tc.assertNotIn(tag, parsed.tags)
    rows = {r["owner"]: r for r in parsed.rows}
    tc.assertEqual(len(parsed.rows), len(expected) + 1, html)
    tc.assertIn(HOSTILE_NAME, rows)
    tc.assertIn("&lt;script&gt;", html)
    for user, want in expected.items():
        row = next(r for r in parsed.rows if r["users"] == user)
        tc.assertEqual(row["owner"], want["name"] or "(unnamed)")
        tc.assertEqual(row["machines"], "1")
        tc.assertEqual(row["unlocked"], str(want["unlocked"]))
        tc.assertTrue(row["health"].startswith(want["health"]), row)
        tc.assertEqual(row["key"], want["pub"][8:24])
    # As a browser shows it: every puddle's row, the forged markup as text.
    tc.assertIn(HOSTILE_NAME, rendered)
    for user, want in expected.items():
        line = next((ln for ln in rendered.splitlines() if want["pub"][8:24] in ln), None)
        tc.assertIsNotNone(line, "%s's puddle is not on the rendered page:\n%s" % (user, rendered))
        tc.assertIn(want["name"] or "(unnamed)", line)
        tc.assertIn(user, line)
    return report


def render(tc, page, home):
    """The page as a browser lays it out: w3m, a text-mode browser (a graphical headless one is some
    300 MB to install, too much for the CI budget)."""
    w3m = shutil.which("w3m")
    if not w3m:
        tc.fail("w3m is not installed (scripts/install-deps.sh installs it): the page cannot be rendered")
    r = subprocess.run([w3m, "-dump", "-cols", "250", "-T", "text/html", page], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, HOME=home))
    tc.assertEqual(r.returncode, 0, r.stderr)
    return r.stdout


class BothContainers(unittest.TestCase):
    def test_four_puddles_of_two_containers_on_one_page(self):
        exports, expected = [], {}
        for distro in booted.DISTROS:
            e, u = export_paths(distro)
            fresh = os.path.exists(e) and os.path.getmtime(e) > os.path.getmtime(PUDDLE)
            if not fresh and distro == "debian13" and \
                    not os.path.exists(os.path.join(booted.TRIXIE_ROOT, "usr/lib/systemd/systemd")):
                self.skipTest("no trixie root at %s, so booted-debian13 left no journal (tests/boot/make-root.sh "
                              "builds it)" % booted.TRIXIE_ROOT)
            self.assertTrue(fresh, "booted-%s left no journal export from this build in %s: it failed before its "
                            "test_12 or did not run (this test runs after it in 'meson test --suite booted')"
                            % (distro, FLEET_DIR))
            exports.append(e)
            with open(u) as f:
                expected.update(json.load(f))
        self.assertEqual(len(expected), 2 * len(booted.DISTROS), expected)
        report = check_roll_up(self, exports, expected)
        print("fleet --journal rolled up %d puddles of %d users from %d containers"
              % (len(report["puddles"]), len(expected), len(exports)), file=sys.stderr)


if __name__ == "__main__":
    unittest_main()

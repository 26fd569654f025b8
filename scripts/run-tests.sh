#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole suite with
# `meson test`. Ends with one summary line: "N passed, N failed, N skipped".
# Run as root on Debian 12 (the integration tests create throwaway users).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
builddir=${PUDDLE_BUILDDIR:-build-test}
if [[ -f $builddir/build.ninja ]]; then
  meson setup --reconfigure "$builddir" >/dev/null
else
  meson setup "$builddir" >/dev/null
fi
meson compile -C "$builddir"
set +e
meson test -C "$builddir" --print-errorlogs "$@"
rc=$?
set -e
/usr/bin/python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc

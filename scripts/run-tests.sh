#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole suite with
# `meson test`, then again under ASan+UBSan, then a short run of every fuzz
# target. Ends with one summary line: "N passed, N failed, N skipped".
# Run as root on Debian 12 (the integration tests create throwaway users).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
builddir=${PUDDLE_BUILDDIR:-build-test}
# --prefix /usr: the booted-systemd tests install this build into their
# containers, where the units, the D-Bus service and the polkit action must be
# where a package puts them.
# -g1 (line tables, enough for file:line in a backtrace or a valgrind report):
# full debug info of the toml++ and Boost.Test templates is most of the
# compile time on a two-core machine.
if [[ -f $builddir/build.ninja ]]; then
  meson setup --reconfigure "$builddir" -Dprefix=/usr >/dev/null
else
  meson setup "$builddir" --prefix /usr -Dcpp_args=-g1 >/dev/null
fi
meson compile -C "$builddir"
# The Debian 13 root for the booted tests, kept between runs and rebuilt only
# when missing (PUDDLE_TRIXIE_ROOT overrides where).
if [[ ${PUDDLE_BOOTED:-1} != 0 ]]; then
  tests/boot/make-root.sh "${PUDDLE_TRIXIE_ROOT:-/var/tmp/puddle-test/trixie}" ||
    echo "run-tests: the trixie root could not be built; booted-debian13 will say SKIP"
fi
# 1. The whole suite; the integration suites run under a real booted systemd
#    (suite booted: Debian 12 and 13), not under the lone manager (suite lone).
set +e
meson test -C "$builddir" --print-errorlogs --no-suite lone "$@"
rc=$?
set -e
logs=("$builddir/meson-logs/testlog.json")

# 2. Again under AddressSanitizer and UndefinedBehaviorSanitizer: every suite
#    but packaging (it builds packages, not code paths) and valgrind (which
#    cannot run sanitized binaries). PUDDLE_SANITIZERS=0 skips this stage.
if [[ ${PUDDLE_SANITIZERS:-1} != 0 ]]; then
  asan=${builddir}-asan
  # -O1, as AddressSanitizer's own documentation advises: at -O2 the
  # instrumented toml++ and Boost.Test code takes 2.5 times as long to compile.
  [[ -f $asan/build.ninja ]] || meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbench=false -Doptimization=1 -Dcpp_args=-g1 >/dev/null
  meson compile -C "$asan" >/dev/null
  set +e
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PUDDLE_SANITIZED=1
  meson test -C "$asan" --print-errorlogs --suite unit --suite cli --suite lint
  r1=$?
  meson test -C "$asan" --print-errorlogs --logbase sanitized-integration --suite lone
  r2=$?
  unset PUDDLE_SANITIZED UBSAN_OPTIONS
  set -e
  ((r1 == 0 && r2 == 0)) || rc=1
  logs+=("$asan/meson-logs/testlog.json" "$asan/meson-logs/sanitized-integration.json")
fi

# 3. A short run of every libFuzzer target (FUZZ_SECONDS each, default 20).
#    PUDDLE_FUZZ=0 skips this stage.
fuzz_passed=0 fuzz_failed=0
if [[ ${PUDDLE_FUZZ:-1} != 0 ]]; then
  fuzzdir=${builddir}-fuzz
  [[ -f $fuzzdir/build.ninja ]] || CXX=clang++ meson setup "$fuzzdir" -Dfuzz=true -Dbench=false \
    -Dcpp_args=-g1 >/dev/null
  # Only the fuzz targets (and what they link): the unit tests and programs
  # are built and run by the stages above.
  mapfile -t fuzz_targets < <(meson introspect --targets "$fuzzdir" | /usr/bin/python3 -c \
    'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin) if t["name"].startswith("fuzz-")))')
  meson compile -C "$fuzzdir" "${fuzz_targets[@]}" >/dev/null
  set +e
  scripts/fuzz-smoke.sh "$fuzzdir" | tee "$fuzzdir/fuzz-smoke.log"
  set -e
  fuzz_passed=$(grep -cE '^fuzz-[^ ]+ +ok ' "$fuzzdir/fuzz-smoke.log" || true)
  fuzz_failed=$(grep -cE '^fuzz-[^ ]+ +CRASH' "$fuzzdir/fuzz-smoke.log" || true)
  ((fuzz_failed == 0 && fuzz_passed > 0)) || rc=1
fi

/usr/bin/python3 - "$fuzz_passed" "$fuzz_failed" "${logs[@]}" <<'PY'
import json, os, sys
passed, failed, skipped = int(sys.argv[1]), int(sys.argv[2]), 0
for path in sys.argv[3:]:
    if not os.path.exists(path):
        failed += 1  # a stage that produced no log did not pass
        continue
    with open(path) as f:
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

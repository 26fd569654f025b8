#!/usr/bin/env bash
# Runs every libFuzzer target of a -Dfuzz=true build for a short while and
# fails if any of them crashes. Each target fuzzes a scratch copy of its seeds
# (tests/fuzz/corpus/<name>/); the seeds in the repository are never written.
#
#   CXX=clang++ meson setup build-fuzz -Dfuzz=true && meson compile -C build-fuzz
#   scripts/fuzz-smoke.sh build-fuzz            # FUZZ_SECONDS per target, default 20
#
# Prints one line per target: name, result, executions, executions per second.
# A crashing input is kept in BUILDDIR/fuzz-artifacts/<name>/ with the log.
set -euo pipefail

builddir=${1:?usage: $0 BUILDDIR (a meson build directory configured with -Dfuzz=true)}
seconds=${FUZZ_SECONDS:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
corpora=$root/tests/fuzz/corpus

targets=()
for exe in "$builddir"/tests/fuzz/fuzz-*; do
  [[ -f $exe && -x $exe ]] && targets+=("$exe")
done
if ((${#targets[@]} == 0)); then
  echo "fuzz-smoke: no fuzz-* executables in $builddir/tests/fuzz (configure with -Dfuzz=true and build)" >&2
  exit 2
fi

work=$(mktemp -d /tmp/puddle-fuzz-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

failed=0
for exe in "${targets[@]}"; do
  name=${exe##*/fuzz-}
  dir=$work/$name
  mkdir -p "$dir/corpus" "$dir/artifacts"
  if [[ -d $corpora/$name ]]; then
    cp -R "$corpora/$name/." "$dir/corpus/"
  fi
  set +e
  "$exe" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
  rc=$?
  set -e
  execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$dir/log")
  rate=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$dir/log")
  if ((rc == 0)); then
    result=ok
  else
    result="CRASH (exit $rc)"
    failed=1
    keep=$builddir/fuzz-artifacts/$name
    mkdir -p "$keep"
    cp "$dir/log" "$keep/log"
    cp -R "$dir/artifacts/." "$keep/" 2>/dev/null || true
  fi
  printf '%-22s %-16s %12s execs %10s exec/s\n' "fuzz-$name" "$result" "${execs:-?}" "${rate:-?}"
  if ((rc != 0)); then
    grep -E 'ERROR|invariant failed|runtime error|SUMMARY' "$dir/log" | head -5 | sed 's/^/    /'
    echo "    input and log kept in $keep"
  fi
done
exit $failed

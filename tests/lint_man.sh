#!/usr/bin/env bash
# Every man page renders without a groff/man warning.
set -u
status=0
for page in "$@"; do
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  if [[ -n $out ]]; then echo "FAIL $page:"; echo "$out"; status=1; else echo "ok $page"; fi
done
exit $status

#!/usr/bin/env bash
# Every man page renders without a groff/man warning, and holds no control
# character but tab and line feed (groff takes a stray form feed from an
# editing script without a warning, and prints it).
set -u
status=0
for page in "$@"; do
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  if [[ -n $out ]]; then echo "FAIL $page:"; echo "$out"; status=1; continue; fi
  if bad=$(LC_ALL=C grep -naP '[\x00-\x08\x0b-\x1f\x7f]' "$page"); then
    echo "FAIL $page: control characters:"; echo "$bad" | cut -c1-80; status=1; continue
  fi
  echo "ok $page"
done
exit $status

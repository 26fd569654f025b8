#!/usr/bin/env bash
# `meson install` into a DESTDIR puts every file where its ecosystem looks for
# it, the units and the D-Bus activation file point at the installed agent,
# and `systemd-analyze --user verify` accepts the installed user units.
# env: PUDDLE_BUILD_ROOT, PUDDLE_SOURCE_ROOT.
set -uo pipefail
build=${PUDDLE_BUILD_ROOT:?}
src=${PUDDLE_SOURCE_ROOT:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

if ! out=$(meson install -C "$build" --no-rebuild --destdir "$work/root" 2>&1); then
  echo "$out"; echo "FAIL meson install --destdir"; exit 1
fi
root=$work/root
prefix=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
datadir=$prefix/share
(cd "$root" && find . ! -type d | sort) >"$work/files"
echo "installed under $prefix:"; sed 's/^/  /' "$work/files"

need() { # need PATH [x]: PATH (absolute, without DESTDIR) was installed (executable with x)
  if [[ ! -e $root$1 ]]; then fail "not installed: $1"
  elif [[ ${2-} == x && ! -x $root$1 ]]; then fail "not executable: $1"
  fi
}
need "$prefix/bin/puddle" x
need "$prefix/libexec/puddle/puddle-agent" x
need "$datadir/dbus-1/services/org.puddle.Agent1.service"
need "$datadir/dbus-1/interfaces/org.puddle.Agent1.xml"
need "$datadir/polkit-1/actions/org.puddle.policy"
need "$datadir/bash-completion/completions/puddle"
need "$datadir/fish/vendor_completions.d/puddle.fish"
need "$datadir/zsh/site-functions/_puddle"
need "$prefix/lib/systemd/catalog/puddle.catalog"
# every unit and man page in the source tree
for u in "$src"/units/*.socket "$src"/units/*.service "$src"/units/*.service.in; do
  [[ -e $u ]] || continue
  n=${u##*/}; need "$prefix/lib/systemd/user/${n%.in}"
done
for m in "$src"/man/*.[1-9]; do
  n=${m##*/}; need "$datadir/man/man${n##*.}/$n"
done
# nothing outside the expected places
while read -r f; do
  case ${f#.} in
    "$prefix"/bin/* | "$prefix"/libexec/puddle/* | "$prefix"/lib/systemd/user/* | "$datadir"/dbus-1/services/* | \
    "$prefix"/lib/systemd/catalog/puddle.catalog | \
    "$datadir"/dbus-1/interfaces/* | "$datadir"/polkit-1/actions/* | "$datadir"/man/* | \
    "$datadir"/bash-completion/completions/* | "$datadir"/fish/vendor_completions.d/* | "$datadir"/zsh/site-functions/*) ;;
    *) fail "installed in an unexpected place: ${f#.}" ;;
  esac
done <"$work/files"

# Exec lines: absolute programs exist (in DESTDIR or on this system)
check_exec() { # FILE KEY...
  local file=$1 key line prog; shift
  for key in "$@"; do
    while IFS= read -r line; do
      prog=${line#*=}; prog=${prog#"${prog%%[!-+@:!]*}"}; prog=${prog%% *}
      [[ $prog == /* ]] || { fail "${file#"$root"}: $key is not an absolute path: $prog"; continue; }
      if [[ -x $root$prog ]]; then echo "ok ${file#"$root"}: $key=$prog (installed)"
      elif [[ -x $prog && $prog != "$prefix"/libexec/puddle/* && $prog != "$prefix"/bin/puddle* ]]; then
        echo "ok ${file#"$root"}: $key=$prog (system)"
      else fail "${file#"$root"}: $key=$prog is not installed"; fi
    done < <(grep -E "^$key=" "$file")
  done
}
for u in "$root$prefix"/lib/systemd/user/*.service; do check_exec "$u" ExecStart ExecStartPre ExecStop; done
check_exec "$root$datadir/dbus-1/services/org.puddle.Agent1.service" Exec
grep -qx 'SystemdService=puddle-agent.service' "$root$datadir/dbus-1/services/org.puddle.Agent1.service" ||
  fail "org.puddle.Agent1.service lacks SystemdService=puddle-agent.service"

# systemd-analyze --user verify needs no running manager, only a runtime
# directory. It checks that the programs exist (give it copies whose paths
# point into DESTDIR) and that Documentation=man: pages exist (MANPATH: only
# the pages installed here count).
if command -v systemd-analyze >/dev/null; then
  mkdir -m 0700 "$work/runtime" "$work/units"
  for u in "$root$prefix"/lib/systemd/user/*; do
    sed "s|=\\([-+@:!]*\\)$prefix/|=\\1$root$prefix/|" "$u" >"$work/units/${u##*/}"
  done
  if out=$(cd "$work/units" && MANPATH=$root$datadir/man XDG_RUNTIME_DIR=$work/runtime systemd-analyze --user verify "$work"/units/* 2>&1) &&
     [[ -z $out ]]; then
    echo "ok systemd-analyze --user verify: $(cd "$work/units" && echo *)"
  else
    fail "systemd-analyze --user verify:"; echo "$out" | sed 's/^/    /'
  fi
else
  echo "skip: systemd-analyze not installed"
fi

# the polkit policy and the interface XML are well-formed XML
/usr/bin/python3 - "$root$datadir/polkit-1/actions/org.puddle.policy" "$root$datadir/dbus-1/interfaces/org.puddle.Agent1.xml" <<'PY' || fails=$((fails + 1))
import sys, xml.dom.minidom
for f in sys.argv[1:]:
    try:
        xml.dom.minidom.parse(f)
        print("ok well-formed:", f)
    except Exception as e:
        print("FAIL not well-formed:", f, e)
        sys.exit(1)
PY

if ((fails)); then echo "$fails checks failed"; exit 1; fi
echo "all install-layout checks passed"

#!/usr/bin/env bash
# Builds the Debian package the documented way (scripts/build-deb.sh: a clean
# copy of the tree, packaging/debian symlinked to debian/, dpkg-buildpackage
# -us -uc -b with DEB_BUILD_OPTIONS=nocheck: the suites it would run are run
# by meson test anyway), then checks the .deb: file list, the paths in the
# units and the D-Bus activation file, systemd-analyze --user verify, the
# maintainer scripts' unit enablement, and lintian (fails on any E:, prints
# every W:). Exit 77 (skip) when the packaging tools or Build-Depends are
# missing. PUDDLE_DEB_KEEP=DIR copies the built .deb there.
# env: PUDDLE_SOURCE_ROOT, PUDDLE_VERSION (meson's project version),
# PUDDLE_BUILD_ROOT: the package is built into <build root>/deb/debian12 with
# build-deb.sh --reuse, where tests/walk finds it (one build for both).
set -uo pipefail
src=${PUDDLE_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

missing=()
for t in dpkg-buildpackage dh lintian; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
  echo "SKIP: missing ${missing[*]} (apt-get install dpkg-dev debhelper lintian)"; exit 77
fi
if ! out=$(dpkg-checkbuilddeps -P nocheck "$src/packaging/debian/control" 2>&1); then
  echo "SKIP: Build-Depends not installed: $out"; exit 77
fi

version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
if [[ -n ${PUDDLE_VERSION-} && ${version%%-*} != "$PUDDLE_VERSION" ]]; then
  fail "packaging/debian/changelog has version $version, meson.build $PUDDLE_VERSION: add a changelog entry (dch -v $PUDDLE_VERSION)"
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
work=$(mktemp -d /tmp/puddle-test-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

debdir=$work/out reuse=()
[[ -n ${PUDDLE_BUILD_ROOT-} ]] && debdir=$PUDDLE_BUILD_ROOT/deb/debian12 reuse=(--reuse)
start=$SECONDS
if ! "$src/scripts/build-deb.sh" --nocheck "${reuse[@]}" --outdir "$debdir" >"$work/build.log" 2>&1; then
  tail -n 60 "$work/build.log"; echo "FAIL dpkg-buildpackage (log above)"; exit 1
fi
echo "built in $((SECONDS - start)) s: $(cd "$debdir" && echo *)"
grep -F -e '--reuse' "$work/build.log" || true
deb=$debdir/puddle_${version}_${arch}.deb
[[ -f $deb ]] || { echo "FAIL no $deb (expected name puddle_<version>_<arch>.deb)"; exit 1; }
[[ -n ${PUDDLE_DEB_KEEP-} ]] && mkdir -p "$PUDDLE_DEB_KEEP" && cp "$deb" "$PUDDLE_DEB_KEEP/"

echo "== dpkg -c"
dpkg -c "$deb" | tee "$work/listing"
awk '{print $6}' "$work/listing" | sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort >"$work/paths"
have() { grep -qxF "$1" "$work/paths"; }
need() { have "$1" || fail "not in the package: $1"; }
for p in /usr/bin/puddle /usr/libexec/puddle/puddle-agent \
         /usr/share/dbus-1/services/org.puddle.Agent1.service /usr/share/dbus-1/interfaces/org.puddle.Agent1.xml \
         /usr/share/polkit-1/actions/org.puddle.policy \
         /usr/share/bash-completion/completions/puddle /usr/share/fish/vendor_completions.d/puddle.fish \
         /usr/share/zsh/vendor-completions/_puddle \
         /usr/share/doc/puddle/copyright /usr/share/doc/puddle/changelog.gz \
         /usr/lib/systemd/catalog/puddle.catalog; do
  need "$p"
done
for u in "$src"/units/*.socket "$src"/units/*.service "$src"/units/*.service.in; do
  [[ -e $u ]] || continue
  n=${u##*/}; need "/usr/lib/systemd/user/${n%.in}"
done
for m in "$src"/man/*.[1-9]; do n=${m##*/}; need "/usr/share/man/man${n##*.}/$n.gz"; done
grep -E '^-' "$work/listing" | awk '{print $1, $6}' | while read -r mode p; do
  case $p in ./usr/bin/* | ./usr/libexec/puddle/*) [[ $mode == -rwxr-xr-x ]] || echo "FAIL $p has mode $mode" ;; esac
done | tee "$work/modefails"
[[ -s $work/modefails ]] && fails=$((fails + 1))
while read -r p; do
  case $p in
    /usr | /usr/bin | /usr/bin/* | /usr/libexec | /usr/libexec/puddle | /usr/libexec/puddle/* | \
    /usr/lib | /usr/lib/systemd | /usr/lib/systemd/user | /usr/lib/systemd/user/* | \
    /usr/lib/systemd/catalog | /usr/lib/systemd/catalog/puddle.catalog | \
    /usr/share | /usr/share/dbus-1 | /usr/share/dbus-1/services | /usr/share/dbus-1/services/org.puddle.* | \
    /usr/share/dbus-1/interfaces | /usr/share/dbus-1/interfaces/org.puddle.* | \
    /usr/share/polkit-1 | /usr/share/polkit-1/actions | /usr/share/polkit-1/actions/org.puddle.* | \
    /usr/share/man | /usr/share/man/man[1-8] | /usr/share/man/man[1-8]/puddle* | /usr/share/doc | /usr/share/doc/puddle* | \
    /usr/share/bash-completion | /usr/share/bash-completion/completions | /usr/share/bash-completion/completions/puddle | \
    /usr/share/fish | /usr/share/fish/vendor_completions.d | /usr/share/fish/vendor_completions.d/puddle.fish | \
    /usr/share/zsh | /usr/share/zsh/vendor-completions | /usr/share/zsh/vendor-completions/_puddle) ;;
    *) fail "unexpected path in the package: $p" ;;
  esac
done <"$work/paths"

root=$work/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"

echo "== programs named by the units and the D-Bus activation file"
check_exec() { # FILE KEY...
  local file=$1 key line prog; shift
  for key in "$@"; do
    while IFS= read -r line; do
      prog=${line#*=}; prog=${prog#"${prog%%[!-+@:!]*}"}; prog=${prog%% *}
      if [[ -f $root$prog && -x $root$prog ]]; then echo "ok ${file#"$root"}: $key=$prog (in the package)"
      elif [[ $prog == /bin/* || $prog == /usr/bin/* ]] && [[ -x $prog ]] && ! have "$prog"; then
        echo "ok ${file#"$root"}: $key=$prog (system)"
      else fail "${file#"$root"}: $key=$prog is not in the package"; fi
    done < <(grep -E "^$key=" "$file")
  done
}
for u in "$root"/usr/lib/systemd/user/*.service; do check_exec "$u" ExecStart ExecStartPre ExecStop; done
check_exec "$root/usr/share/dbus-1/services/org.puddle.Agent1.service" Exec

if command -v systemd-analyze >/dev/null; then
  mkdir -m 0700 "$work/runtime" "$work/units"
  for u in "$root"/usr/lib/systemd/user/*; do
    sed "s|=\\([-+@:!]*\\)/usr/|=\\1$root/usr/|" "$u" >"$work/units/${u##*/}"
  done
  if out=$(cd "$work/units" && MANPATH=$root/usr/share/man XDG_RUNTIME_DIR=$work/runtime systemd-analyze --user verify "$work"/units/* 2>&1) &&
     [[ -z $out ]]; then
    echo "ok systemd-analyze --user verify: $(cd "$work/units" && echo *)"
  else
    fail "systemd-analyze --user verify:"; echo "$out" | sed 's/^/    /'
  fi
fi

echo "== user units enabled by the maintainer scripts"
postinst=$root/DEBIAN/postinst
for u in "$root"/usr/lib/systemd/user/*; do
  n=${u##*/}
  enabled=false
  [[ -f $postinst ]] && grep -q "deb-systemd-helper --user enable '$n'" "$postinst" && enabled=true
  case $n in
    puddle-pair.*) $enabled && fail "$n is enabled on install (must not be)" || echo "ok $n: not enabled" ;;
    *)
      if grep -qi '^\[Install\]' "$u"; then
        $enabled && echo "ok $n: enabled for all users" || fail "$n has [Install] but is not enabled on install"
      else
        echo "ok $n: no [Install] section (activated by its socket / D-Bus)"
      fi ;;
  esac
done

echo "== lintian"
lintian_out=$(lintian --info --display-info "$debdir/puddle_${version}_${arch}.changes" 2>&1)
lintian_rc=$?
grep -v '^N: *running with root privileges' <<<"$lintian_out" | grep -E '^[A-Z]:' || echo "(no tags)"
if grep -qE '^E: ' <<<"$lintian_out"; then
  fail "lintian reports errors:"; grep -E '^E: ' <<<"$lintian_out" | sed 's/^/    /'
elif ((lintian_rc != 0)); then
  echo "$lintian_out"; fail "lintian exited $lintian_rc"
fi
nw=$(grep -cE '^W: ' <<<"$lintian_out")
echo "lintian: $(grep -cE '^E: ' <<<"$lintian_out") errors, $nw warnings"

if ((fails)); then echo "$fails checks failed"; exit 1; fi
echo "all deb checks passed"

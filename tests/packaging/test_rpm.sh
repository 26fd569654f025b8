#!/usr/bin/env bash
# packaging/rpm/puddle.spec: rpmbuild -bb accepts it and the binary RPM holds
# the expected files and scriptlets. Here (Debian) rpmbuild runs with --nodeps
# (the BuildRequires name Fedora packages) and --without check, compiling
# against Debian's libraries: a check of the spec's syntax, build and
# install steps and file list, not a Fedora build. Exit 77 without rpmbuild.
# env: PUDDLE_SOURCE_ROOT, PUDDLE_VERSION.
set -uo pipefail
src=${PUDDLE_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
spec=$src/packaging/rpm/puddle.spec
command -v rpmbuild >/dev/null || { echo "SKIP: rpmbuild not installed (apt-get install rpm)"; exit 77; }
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

version=$(rpmspec -q --srpm --qf '%{version}\n' "$spec" 2>/dev/null | head -n1)
[[ -n $version ]] || { rpmspec -P "$spec" >/dev/null; echo "FAIL rpmspec cannot parse $spec"; exit 1; }
if [[ -n ${PUDDLE_VERSION-} && $version != "$PUDDLE_VERSION" ]]; then
  fail "puddle.spec has Version $version, meson.build $PUDDLE_VERSION"
fi
work=$(mktemp -d /tmp/puddle-test-rpm.XXXXXX)
trap 'rm -rf "$work"' EXIT
top=$work/rpmbuild
mkdir -p "$top/SOURCES"
"$src/packaging/export-tree.sh" "$work/puddle-$version"
tar -C "$work" -czf "$top/SOURCES/puddle-$version.tar.gz" "puddle-$version"
cp "$src/packaging/rpm/80-puddle.preset" "$top/SOURCES/"

start=$SECONDS
if ! rpmbuild -bb --nodeps --without check --define "_topdir $top" "$spec" >"$work/build.log" 2>&1; then
  tail -n 60 "$work/build.log"; echo "FAIL rpmbuild -bb (log above)"; exit 1
fi
rpm=$(find "$top/RPMS" -name "puddle-$version-*.rpm" ! -name '*debug*' | head -n1)
echo "built in $((SECONDS - start)) s: ${rpm#"$top"/}"
grep -iE '^(warning|error)' "$work/build.log" | sort -u

echo "== rpm -qlp"
rpm -qlp "$rpm" | tee "$work/list"
for p in /usr/bin/puddle /usr/libexec/puddle/puddle-agent \
         /usr/lib/systemd/user/puddle-agent.service /usr/lib/systemd/user/puddle-agent.socket \
         /usr/lib/systemd/user-preset/80-puddle.preset \
         /usr/share/dbus-1/services/org.puddle.Agent1.service /usr/share/dbus-1/interfaces/org.puddle.Agent1.xml \
         /usr/share/polkit-1/actions/org.puddle.policy \
         /usr/share/bash-completion/completions/puddle /usr/share/fish/vendor_completions.d/puddle.fish \
         /usr/share/zsh/site-functions/_puddle /usr/lib/systemd/catalog/puddle.catalog; do
  grep -qxF "$p" "$work/list" || fail "not in the RPM: $p"
done
# %doc: /usr/share/doc/puddle (Fedora's _docdir_fmt) or puddle-VERSION (rpm's default)
grep -qE "^/usr/share/doc/puddle(-$version)?/README.md$" "$work/list" || fail "README.md not in the RPM's doc dir"
for m in "$src"/man/*.[1-9]; do
  n=${m##*/}; grep -qE "^/usr/share/man/man${n##*.}/$n(\.gz|\.xz|\.bz2)?$" "$work/list" || fail "man page $n not in the RPM"
done
mkdir "$work/root"
if command -v rpm2archive >/dev/null; then
  rpm2archive - <"$rpm" | tar -C "$work/root" -xzf -
elif command -v cpio >/dev/null; then
  (cd "$work/root" && rpm2cpio "$rpm" | cpio -idm --quiet)
fi
if [[ ! -e $work/root/usr/bin/puddle ]]; then
  echo "skip: cannot unpack the RPM (no rpm2archive or cpio): Exec paths not checked"
else
grep -qx 'ExecStart=/usr/libexec/puddle/puddle-agent' "$work/root/usr/lib/systemd/user/puddle-agent.service" ||
  fail "puddle-agent.service ExecStart does not point at /usr/libexec/puddle/puddle-agent"
grep -qx 'Exec=/usr/libexec/puddle/puddle-agent' "$work/root/usr/share/dbus-1/services/org.puddle.Agent1.service" ||
  fail "org.puddle.Agent1.service Exec does not point at /usr/libexec/puddle/puddle-agent"
echo "ok units and the D-Bus activation file point at /usr/libexec/puddle/puddle-agent"
fi
echo "== scriptlets"
rpm -qp --scripts "$rpm" | tee "$work/scripts"
grep -q 'systemctl --no-reload --global preset' "$work/scripts" || fail "%post does not preset the agent sockets"

if ((fails)); then echo "$fails checks failed"; exit 1; fi
echo "all rpm checks passed"

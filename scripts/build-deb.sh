#!/usr/bin/env bash
# Builds puddle_<version>_<arch>.deb from this source tree, as from a clean
# checkout: the tree is copied (without .git, meson build directories,
# obj-*/ and any debian/ directory) to a temporary directory, where
# packaging/debian is symlinked to debian/ and `dpkg-buildpackage -us -uc -b`
# runs. The .deb (and .buildinfo/.changes) land in OUTDIR.
#
# usage: scripts/build-deb.sh [--outdir DIR] [--nocheck] [--reuse] [--install-deps] [--keep]
#   --outdir DIR     where to put the results (default: ./deb-out)
#   --nocheck        DEB_BUILD_OPTIONS=nocheck: skip the build-time tests
#                    (the unit, cli and lint suites)
#   --reuse          build nothing when OUTDIR already holds the package of
#                    this very tree, options and distribution (OUTDIR/.tree-hash;
#                    the tests share one build this way)
#   --install-deps   apt-get build-dep the Build-Depends first (root)
#   --keep           keep the temporary build tree and print where it is
# Needs dpkg-dev, debhelper and the Build-Depends of packaging/debian/control.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
outdir=$PWD/deb-out nocheck=false reuse=false install_deps=false keep=false
while (($#)); do
  case $1 in
    --outdir) outdir=$(realpath -m "$2"); shift 2 ;;
    --outdir=*) outdir=$(realpath -m "${1#*=}"); shift ;;
    --nocheck) nocheck=true; shift ;;
    --reuse) reuse=true; shift ;;
    --install-deps) install_deps=true; shift ;;
    --keep) keep=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
work=$(mktemp -d /tmp/puddle-deb.XXXXXX)
$keep || trap 'rm -rf "$work"' EXIT
tree=$work/puddle-${version%%-*}

"$src/packaging/export-tree.sh" "$tree"
ln -s packaging/debian "$tree/debian"

if $install_deps; then
  export DEBIAN_FRONTEND=noninteractive
  profiles=(); $nocheck && profiles=(-P nocheck)
  apt-get build-dep -y -qq "${profiles[@]}" "$tree" >/dev/null
fi

opts=${DEB_BUILD_OPTIONS:-}
$nocheck && opts="nocheck $opts"
# One job per core (debhelper passes it on to ninja and meson test).
[[ $opts == *parallel=* ]] || opts="$opts parallel=$(nproc)"
opts=$(echo $opts)   # no leading, trailing or double spaces: dpkg warns about empty flags
export DEB_BUILD_OPTIONS=$opts
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=puddle_${version}_${arch}.deb

# What the package is built from: every exported file's path, mode and
# content, the build options (parallel=N aside) and the distribution.
tree_hash=$( (cd "$tree" && find . \( -type f -o -type l \) -printf '%m %p\n' | LC_ALL=C sort &&
              find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum &&
              echo "$DEB_BUILD_OPTIONS" | sed 's/parallel=[0-9]*//' && cat /etc/os-release) | sha256sum | cut -c1-32)
if $reuse && [[ -f $outdir/$deb && -f $outdir/.tree-hash && $(cat "$outdir/.tree-hash") == "$tree_hash" ]]; then
  echo "build-deb: $outdir/$deb is of this tree already (--reuse)"
  exit 0
fi
rm -f "$outdir/.tree-hash"
echo "build-deb: building puddle $version in $tree (DEB_BUILD_OPTIONS='$DEB_BUILD_OPTIONS')"
start=$SECONDS
(cd "$tree" && dpkg-buildpackage -us -uc -b)
echo "build-deb: dpkg-buildpackage took $((SECONDS - start)) s"

mkdir -p "$outdir"
for f in "$work"/puddle_"${version}"_"$arch".deb "$work"/puddle-dbgsym_"${version}"_"$arch".deb \
         "$work"/puddle_"${version}"_"$arch".buildinfo "$work"/puddle_"${version}"_"$arch".changes; do
  [[ -e $f ]] && cp "$f" "$outdir/"
done
$reuse && echo "$tree_hash" >"$outdir/.tree-hash"
$keep && echo "build-deb: build tree kept in $work"
echo "build-deb: $outdir/puddle_${version}_${arch}.deb"

#!/usr/bin/env bash
# Copies the puddle source tree, as a clean checkout would have it, to DEST:
# without .git, meson build directories (build*/ or any directory holding
# meson-private/), debhelper's obj-*/, a debian/ left from an earlier build,
# package build output and Python caches. Used by scripts/build-deb.sh and
# the packaging tests (no git needed, uncommitted edits included).
# usage: packaging/export-tree.sh DEST
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?usage: export-tree.sh DEST}
mkdir -p "$dest"
excludes=(--exclude=./.git --exclude=./debian --exclude='./obj-*' --exclude='__pycache__' --exclude='*.pyc'
          --exclude=./deb-out --exclude=./rpm-out --exclude='./*.deb' --exclude='./*.rpm')
while IFS= read -r -d '' d; do
  excludes+=("--exclude=./${d#"$src"/}")
done < <(find "$src" -mindepth 1 -maxdepth 3 -type d \( -name meson-private -o -name meson-info \) -printf '%h\0' | sort -zu)
tar -C "$src" "${excludes[@]}" -cf - . | tar -C "$dest" -xf -

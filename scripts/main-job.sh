#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root): install
# the dependencies, build, install puddle to /usr, and use it as a user would
# in a throwaway state directory.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
builddir=${PUDDLE_BUILDDIR:-build-main}
[[ -f $builddir/build.ninja ]] || meson setup "$builddir" --prefix /usr >/dev/null
meson compile -C "$builddir"
meson install -C "$builddir" --no-rebuild >/dev/null
echo "== installed: $(command -v puddle) ($(puddle --version))"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PUDDLE_HOME=$work/state
pass=$work/pass; printf 'main job passphrase\n' >"$pass"

echo "== puddle init"
puddle init --passphrase-fd 3 3<"$pass"
echo "== puddle status"
puddle status
echo "== puddle pubkey"
key=$(puddle pubkey); echo "$key"
echo "== puddle rotate-passphrase"
printf 'main job passphrase\nrotated passphrase\n' >"$pass"
puddle rotate-passphrase --passphrase-fd 3 --new-passphrase-fd 3 3<"$pass"
[[ $(puddle pubkey) == "$key" ]] || { echo "public key changed" >&2; exit 1; }
echo "== puddle verify (a signature made outside puddle is refused for this key)"
echo "hello" >"$work/msg"
if puddle verify --sig "$(printf '%0128d' 0)" "$work/msg"; then
  echo "verify accepted a zero signature" >&2; exit 1
fi
echo "== main job done"

#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root): install
# the dependencies, build, install puddle to /usr, then use it as a user
# would: a throwaway user with a real systemd --user manager runs
# init -> unlock -> sign -> verify through the installed agent units, and a
# second envoy in another network namespace joins with a pairing code.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
builddir=${PUDDLE_BUILDDIR:-build-main}
[[ -f $builddir/build.ninja ]] || meson setup "$builddir" --prefix /usr -Dtests=false >/dev/null
meson compile -C "$builddir"
meson install -C "$builddir" --no-rebuild >/dev/null
echo "== installed: $(command -v puddle) ($(puddle --version))"

echo "== identity verbs in a throwaway state directory (as root)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PUDDLE_HOME=$work/state
pass=$work/pass; printf 'main job passphrase\n' >"$pass"
puddle init --passphrase-fd 3 3<"$pass"
key=$(puddle pubkey); echo "$key"
printf 'main job passphrase\nrotated passphrase\n' >"$pass"
puddle rotate-passphrase --passphrase-fd 3 --new-passphrase-fd 3 3<"$pass"
[[ $(puddle pubkey) == "$key" ]] || { echo "public key changed" >&2; exit 1; }
unset PUDDLE_HOME

echo "== the agent, as a user with a real systemd --user manager"
/usr/bin/python3 scripts/main-job.py

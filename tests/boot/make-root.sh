#!/usr/bin/env bash
# Builds a Debian root file system from the configured Debian package source.
#
#   make-root.sh [DIR]               the trixie root of the booted-systemd tests
#                                    (default /var/tmp/puddle-test/trixie): systemd,
#                                    the test tools and the Build-Depends, so the
#                                    project and its .deb are built inside it
#   make-root.sh --user SUITE DIR    a user's system (bookworm or trixie) with
#                                    nothing of the project: systemd, logind, polkit,
#                                    sudo, ssh, git (tests/walk boots it)
#
# Rebuilt only when missing or when its suite or package list below changed
# (their hash is kept in DIR.stamp). A user's system keeps its package lists,
# as apt leaves them. Run as root.
set -euo pipefail
if [[ ${1-} == --user ]]; then
  suite=${2:?usage: make-root.sh --user SUITE DIR} dir=${3:?usage: make-root.sh --user SUITE DIR}
  # What a user's system has before puddle: apt resolves the rest (the
  # package's Depends and Recommends) when the walk installs it.
  pkgs=systemd,systemd-sysv,dbus,libpam-systemd,polkitd,login,passwd,sudo,openssh-client,openssh-server,git
  keep=(--skip=cleanup/apt/lists)
else
  keep=()
  suite=trixie dir=${1:-/var/tmp/puddle-test/trixie}
  pkgs=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,polkitd,pkexec,openssh-client,openssh-server,\
python3,python3-dbus,python3-nacl,socat,keyutils,procps,iproute2,util-linux,git,openssl,\
meson,ninja-build,pkg-config,g++,libsystemd-dev,libsodium-dev,libssl-dev,\
libtomlplusplus-dev,libboost-test-dev,libkeyutils-dev,libtss2-dev,swtpm,\
build-essential,dpkg-dev,debhelper
fi
stamp=$(printf '%s' "$suite:$pkgs" | sha256sum | cut -c1-16)
if [[ -f $dir.stamp && $(cat "$dir.stamp") == "$stamp" && -x $dir/usr/lib/systemd/systemd ]]; then
  echo "make-root: $dir is up to date"
  exit 0
fi
command -v mmdebstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
src=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n $src ]] || src=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
rm -rf "$dir" "$dir.stamp" "$dir.tmp"
mkdir -p "$(dirname "$dir")"
echo "make-root: building the $suite root in $dir (a few minutes)"
start=$SECONDS
mmdebstrap --quiet --variant=apt "${keep[@]}" --include="$pkgs" "$suite" "$dir.tmp" "$src"
mv "$dir.tmp" "$dir"
echo "$stamp" >"$dir.stamp"
echo "make-root: done in $((SECONDS - start)) s ($(du -sh "$dir" | cut -f1))"

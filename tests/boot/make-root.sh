#!/usr/bin/env bash
# Builds a Debian 13 (trixie) root file system for the booted-systemd tests
# from the configured Debian package source, into DIR (default
# /var/tmp/puddle-test/trixie). Rebuilt only when missing or when the package
# list below changed (its hash is kept in DIR.stamp). Run as root.
set -euo pipefail
dir=${1:-/var/tmp/puddle-test/trixie}
pkgs=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,polkitd,pkexec,openssh-client,openssh-server,\
python3,python3-dbus,python3-nacl,socat,keyutils,procps,iproute2,util-linux,git,openssl,\
meson,ninja-build,pkg-config,g++,libsystemd-dev,libsodium-dev,libssl-dev,\
libtomlplusplus-dev,libboost-test-dev,libkeyutils-dev,libtss2-dev,swtpm
stamp=$(printf '%s' "$pkgs" | sha256sum | cut -c1-16)
if [[ -f $dir.stamp && $(cat "$dir.stamp") == "$stamp" && -x $dir/usr/lib/systemd/systemd ]]; then
  echo "make-root: $dir is up to date"
  exit 0
fi
command -v mmdebstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
src=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n $src ]] || src=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
rm -rf "$dir" "$dir.stamp" "$dir.tmp"
mkdir -p "$(dirname "$dir")"
echo "make-root: building the trixie root in $dir (a few minutes)"
mmdebstrap --quiet --variant=apt --include="$pkgs" trixie "$dir.tmp" "$src"
mv "$dir.tmp" "$dir"
echo "$stamp" >"$dir.stamp"
echo "make-root: done ($(du -sh "$dir" | cut -f1))"

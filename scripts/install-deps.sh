#!/usr/bin/env bash
# Installs everything puddle needs to build, install and test on Debian 12.
# Run as root. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential meson ninja-build pkg-config
  libsystemd-dev libsodium-dev libssl-dev libtomlplusplus-dev
  libboost-test-dev libkeyutils-dev keyutils
  systemd dbus dbus-user-session polkitd pkexec
  python3 python3-nacl python3-dbus
  openssh-client git socat iproute2 procps util-linux passwd
  debhelper lintian rpm bash-completion zsh fish libxml2-utils valgrind
  clang libclang-rt-14-dev
  systemd-container mmdebstrap
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all build and test dependencies present"

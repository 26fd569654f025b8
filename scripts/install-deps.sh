#!/usr/bin/env bash
# Installs everything puddle needs to build, install and test on Debian 12.
# Run as root. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential meson ninja-build pkg-config
  libsystemd-dev libsodium-dev libssl-dev libtomlplusplus-dev
  libboost-test-dev libkeyutils-dev keyutils libtss2-dev swtpm swtpm-tools
  systemd dbus dbus-user-session polkitd pkexec
  python3 python3-nacl python3-dbus
  openssh-client openssh-server git socat iproute2 procps util-linux passwd
  debhelper lintian rpm bash-completion zsh fish libxml2-utils valgrind
  clang libclang-rt-14-dev
  systemd-container mmdebstrap systemd-journal-remote w3m
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  # The tests run their own sshd on loopback inside the booted containers
  # (where ssh.service is masked); installing the package must not start one
  # on this machine: forbid service starts for the install (policy-rc.d(8)),
  # unless the machine already has a policy of its own.
  guard=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [[ -z $guard ]] || rm -f "$guard"
fi
echo "install-deps: all build and test dependencies present"

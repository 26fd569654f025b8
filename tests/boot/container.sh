#!/bin/bash
# Boots a real systemd as PID 1 in systemd-nspawn on a machine whose own PID 1
# is not systemd, logs users in through PAM, runs commands, shuts it down.
# After ../shared/pid1/container.sh (see PID1.md there for why each step is
# there); differences: extra nspawn arguments (binds) from PUDDLE_NSPAWN_ARGS,
# the container's PID 1 found by its pid namespace (nspawn may fork a short
# helper first), a `run` verb that runs one command in a root without booting
# it, and a bounded wait for the boot.
#
#   container.sh NAME up [ROOT]          boot; ROOT = a root file system (default: the host's
#                                        own /, read-only under a tmpfs overlay)
#   container.sh NAME exec CMD...        run CMD as root inside
#   container.sh NAME login USER CMD...  run CMD as USER in a PAM login session on seat0
#   container.sh NAME down               clean poweroff, cgroups removed
#   container.sh NAME run ROOT CMD...    run CMD in ROOT (overlay, not booted), e.g. a build
# Writes state under /tmp/pid1-NAME.
set -u
N=$1; shift; D=/tmp/pid1-$N; CG=pid1-$N; VERB=${1:-}; shift || true
leader() { cat "$D/leader.pid"; }
E() { nsenter -t "$(leader)" -a "$@"; }
MASKS="systemd.mask=postgresql.service systemd.mask=postgresql@15-main.service systemd.mask=ssh.service systemd.mask=ssh.socket
 systemd.mask=apt-daily.timer systemd.mask=apt-daily-upgrade.timer systemd.mask=man-db.timer
 systemd.mask=e2scrub_all.timer systemd.mask=fstrim.timer systemd.mask=dpkg-db-backup.timer
 systemd.mask=console-getty.service systemd.mask=docker.service systemd.mask=containerd.service
 systemd.mask=tmp.mount"
# shellcheck disable=SC2206
EXTRA=(${PUDDLE_NSPAWN_ARGS:-})

private_mounts() {
  mount --make-rprivate /
  mount -t tmpfs tmpfs /run
  for h in unified systemd; do
    [[ -d /sys/fs/cgroup/$h ]] || continue
    mkdir -p /sys/fs/cgroup/$h/$CG; echo $$ > /sys/fs/cgroup/$h/$CG/cgroup.procs
  done
}
remove_cgroups() {
  for h in unified systemd; do
    [[ -d /sys/fs/cgroup/$h/$CG ]] && find /sys/fs/cgroup/$h/$CG -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}

case $VERB in
inner)  # inside `unshare -m`
  set -e
  ROOT=$1
  private_mounts
  if [[ $ROOT == / ]]; then mkdir -p "$D/hostroot"; mount --bind / "$D/hostroot"; ROOT=$D/hostroot; fi
  exec systemd-nspawn -D "$ROOT" --volatile=overlay --machine="$N" --register=no --keep-unit \
    --private-network --console=read-only --system-call-filter="add_key keyctl request_key" \
    "${EXTRA[@]}" -b $MASKS
  ;;
runinner)
  set -e
  ROOT=$1; shift
  private_mounts
  systemd-nspawn -q -D "$ROOT" --volatile=overlay --machine="$N" --register=no --keep-unit \
    --private-network --as-pid2 "${EXTRA[@]}" "$@"
  ;;
run)
  ROOT=$1; shift; mkdir -p "$D"
  unshare -m "$0" "$N" runinner "$ROOT" "$@"; rc=$?
  remove_cgroups
  exit $rc
  ;;
up)
  ROOT=${1:-/}; mkdir -p "$D"; rm -f "$D/leader.pid"; t0=$(date +%s%N)
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=${PID1_UNIFIED:-} setsid unshare -m "$0" "$N" inner "$ROOT" >"$D/console.log" 2>&1 </dev/null &
  echo $! >"$D/nspawn.pid"
  L=
  for _ in $(seq 600); do
    for c in $(ps --ppid "$(cat "$D/nspawn.pid")" -o pid= 2>/dev/null); do
      grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$c/status" 2>/dev/null && { L=$c; break; }
    done
    [[ -n $L ]] && break
    kill -0 "$(cat "$D/nspawn.pid")" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $L ]] || { echo "$N: nspawn did not start a container"; tail -20 "$D/console.log"; exit 1; }
  echo "$L" >"$D/leader.pid"
  for _ in $(seq 600); do E test -S /run/systemd/private 2>/dev/null && break
    kill -0 "$(cat "$D/nspawn.pid")" 2>/dev/null || { echo "$N: nspawn died"; tail -20 "$D/console.log"; exit 1; }; sleep 0.1; done
  st=$(timeout 120 nsenter -t "$L" -a systemctl is-system-running --wait)
  echo "$N: $st in $(( ($(date +%s%N) - t0) / 1000000 )) ms; $(E systemctl is-active systemd-journald systemd-logind dbus | paste -sd' ')"
  ;;
exec) E "$@" ;;
login)
  U=$1; shift
  E systemd-run --wait --pipe --quiet -p PAMName=login -p User="$U" \
    -p Environment="XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user" "$@"
  ;;
down)
  [[ -f $D/nspawn.pid ]] || exit 0
  P=$(cat "$D/nspawn.pid"); kill -TERM "$P" 2>/dev/null    # nspawn turns it into a clean poweroff
  for _ in $(seq 600); do kill -0 "$P" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$P" 2>/dev/null && kill -KILL "$P"
  remove_cgroups
  rm -f "$D/nspawn.pid" "$D/leader.pid"
  tail -1 "$D/console.log"
  ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac

#!/usr/bin/env bash
# A real systemd (the host's /lib/systemd/systemd) as PID 1 of new pid/mount/uts/ipc/cgroup
# namespaces, with a D-Bus system bus, for tests that need systemd to run a unit.
#
#   systemd-container.sh start STATE_DIR   boots it; writes STATE_DIR/env (CONTAINER_PID, CONTAINER_ROOT)
#   systemd-container.sh stop STATE_DIR    powers it off and removes its cgroups
#
# Inside, the host's root is mounted read-only (in the new mount namespace only); /run, /tmp,
# /var/tmp, /var/lib, /var/log and /dev are private tmpfs, so nothing the units write reaches the
# host. The cgroup hierarchies are remounted inside a cgroup namespace rooted at a fresh child
# cgroup, so resource limits apply. The network namespace is shared with the host. Run
# commands inside with: nsenter -t "$CONTAINER_PID" -m -p -- COMMAND.
# Needs root and the hybrid/legacy cgroup layout (cgroup v1 controllers under a tmpfs
# /sys/fs/cgroup), as on the project's Debian 12 build machines.
set -euo pipefail

readonly SYSTEMD=/lib/systemd/systemd
readonly BOOT_TIMEOUT_SECONDS=60

die() { echo "systemd-container.sh: $*" >&2; exit 1; }

# "type mountpoint options" of each cgroup mount of the host, without rw/ro.
host_cgroup_mounts() {
  awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break
         type = $(i + 1); options = $(i + 3)
         if (type == "cgroup" || type == "cgroup2") {
           gsub(/(^|,)(rw|ro)(,|$)/, ",", options); gsub(/^,+|,+$/, "", options)
           print type, $5, options } }' /proc/self/mountinfo
}

# PID 1 of the new namespaces: lays out the mounts, then becomes systemd.
write_init() {
  cat >"$1" <<'INIT'
#!/bin/bash
set -euo pipefail
mount() { command mount -n "$@"; }   # -n: leave the host's /run/mount/utab alone
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir /run/.dev
mount -t tmpfs -o mode=755,nosuid tmpfs /run/.dev
for node in null zero full random urandom tty; do
  touch "/run/.dev/$node"; mount --bind "/dev/$node" "/run/.dev/$node"
done
touch /run/.dev/console; mount --bind /dev/null /run/.dev/console
mkdir /run/.dev/pts /run/.dev/shm
ln -s pts/ptmx /run/.dev/ptmx
ln -s /proc/self/fd /run/.dev/fd
ln -s /proc/self/fd/0 /run/.dev/stdin; ln -s /proc/self/fd/1 /run/.dev/stdout; ln -s /proc/self/fd/2 /run/.dev/stderr
mount --move /run/.dev /dev
rmdir /run/.dev
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# Read-only root: systemd-tmpfiles would otherwise clean the host's /tmp, and units must not
# write to the host. Writable places are private tmpfs.
mount -o remount,bind,ro /
for dir in /tmp /var/tmp; do mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dir"; done
for dir in /var/lib /var/log; do mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$dir"; done
mkdir -p /var/lib/dbus /var/lib/systemd
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
if [[ -e /proc/sysrq-trigger ]]; then
  mount --bind /proc/sysrq-trigger /proc/sysrq-trigger; mount -o remount,bind,ro /proc/sysrq-trigger
fi
mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
while read -r type mountpoint options; do
  [[ -n "$type" ]] || continue
  mkdir -p "$mountpoint"
  mount -t "$type" -o "nosuid,nodev,noexec${options:+,$options}" "$type" "$mountpoint"
done <<<"$CONTAINER_CGROUP_MOUNTS"
mkdir -p /run/systemd/system
cat >/run/systemd/system/container.target <<'TARGET'
[Unit]
Description=minimal target with the system bus
Wants=sysinit.target dbus.socket dbus.service
After=sysinit.target dbus.service
TARGET
export container=unified-llm-tests
exec /lib/systemd/systemd --unit=container.target --show-status=no --log-target=journal-or-kmsg
INIT
  chmod 755 "$1"
}

# Moves the calling shell into a new child cgroup, in every hierarchy, named after the state dir.
enter_child_cgroups() {
  local state="$1" name="$2" mounts="$3" lines controllers path mountpoint
  lines="$(cat "/proc/$BASHPID/cgroup")"
  while IFS=: read -r _ controllers path; do
    mountpoint=""
    if [[ -z "$controllers" ]]; then
      mountpoint="$(awk '$1 == "cgroup2" { print $2; exit }' <<<"$mounts")"
    else
      mountpoint="$(while read -r type dir options; do
        [[ "$type" == cgroup ]] || continue
        all=1
        for controller in ${controllers//,/ }; do [[ ",$options," == *",$controller,"* ]] || all=0; done
        ((all)) && { echo "$dir"; break; }
      done <<<"$mounts")"
    fi
    [[ -n "$mountpoint" ]] || continue
    local parent="$mountpoint${path%/}" dir="$mountpoint${path%/}/$name"
    mkdir -p "$dir"
    echo "$dir" >>"$state/cgroups"
    if [[ -f "$dir/cpuset.cpus" && -z "$(cat "$dir/cpuset.cpus")" ]]; then
      cat "$parent/cpuset.cpus" >"$dir/cpuset.cpus"
      cat "$parent/cpuset.mems" >"$dir/cpuset.mems"
    fi
    echo "$BASHPID" >"$dir/cgroup.procs"
  done <<<"$lines"
}

start() {
  local state="$1"
  [[ $EUID -eq 0 ]] || die "must run as root"
  [[ -x "$SYSTEMD" ]] || die "$SYSTEMD is missing"
  [[ "$(stat -f -c %T /sys/fs/cgroup)" == tmpfs ]] || die "only the hybrid/legacy cgroup layout is handled (/sys/fs/cgroup is not a tmpfs)"
  mkdir -p "$state"
  rm -f "$state/env" "$state/cgroups" "$state/unshare.pid"
  local mounts name
  mounts="$(host_cgroup_mounts)"
  name="ullm-test-$(basename "$state")"
  write_init "$state/init.sh"

  (
    enter_child_cgroups "$state" "$name" "$mounts"
    export CONTAINER_CGROUP_MOUNTS="$mounts"
    # Without these capabilities the container's systemd cannot touch the host's clock, kernel
    # modules or kernel log.
    exec setsid setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-wake_alarm,-syslog,-mac_admin,-mac_override \
      unshare --pid --fork --mount --uts --ipc --cgroup --mount-proc --propagation private "$state/init.sh"
  ) >"$state/console.log" 2>&1 </dev/null &
  local unshare_pid=$!
  echo "$unshare_pid" >"$state/unshare.pid"

  local deadline=$((SECONDS + BOOT_TIMEOUT_SECONDS)) pid="" running=""
  while ((SECONDS < deadline)); do
    kill -0 "$unshare_pid" 2>/dev/null || die "the container exited while booting; see $state/console.log"
    pid="$(awk '{ print $1 }' "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null || true)"
    if [[ -n "$pid" && "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$SYSTEMD")" ]]; then
      running="$(timeout 5 nsenter -t "$pid" -m -p -- systemctl is-system-running 2>/dev/null || true)"
      if [[ "$running" == running || "$running" == degraded ]] &&
        timeout 5 busctl --address="unix:path=/proc/$pid/root/run/dbus/system_bus_socket" get-property \
          org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager Version >/dev/null 2>&1; then
        printf 'CONTAINER_PID=%s\nCONTAINER_ROOT=/proc/%s/root\n' "$pid" "$pid" >"$state/env"
        return 0
      fi
    fi
    sleep 0.1
  done
  die "systemd did not come up within ${BOOT_TIMEOUT_SECONDS}s (state '$running'); see $state/console.log"
}

stop() {
  local state="$1" unshare_pid pid
  unshare_pid="$(cat "$state/unshare.pid" 2>/dev/null || true)"
  alive() { [[ -n "$unshare_pid" ]] && kill -0 "$unshare_pid" 2>/dev/null; }
  if alive; then
    pid="$(awk '{ print $1 }' "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null || true)"
    # SIGRTMIN+4 asks systemd for a clean poweroff; killing PID 1 of the namespace ends all of it.
    [[ -n "$pid" ]] && kill -s SIGRTMIN+4 "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive || break; sleep 0.1; done
    if alive && [[ -n "$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 50); do alive || break; sleep 0.1; done
    alive && die "the container (unshare pid $unshare_pid) is still running"
  fi
  if [[ -f "$state/cgroups" ]]; then
    local dir
    while read -r dir; do
      for _ in 1 2 3 4 5; do
        [[ -d "$dir" ]] || break
        find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null && break
        sleep 0.2
      done
      [[ -d "$dir" ]] && echo "systemd-container.sh: could not remove the cgroup $dir" >&2
    done <"$state/cgroups"
  fi
  rm -f "$state/env" "$state/cgroups" "$state/unshare.pid"
}

case "${1:-}" in
  start) start "${2:?usage: systemd-container.sh start STATE_DIR}" ;;
  stop) stop "${2:?usage: systemd-container.sh stop STATE_DIR}" ;;
  *) die "usage: systemd-container.sh start|stop STATE_DIR" ;;
esac

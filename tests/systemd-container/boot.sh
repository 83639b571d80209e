#!/bin/bash
# Boot the host's real systemd (/lib/systemd/systemd) as PID 1 of new pid/mount/uts/ipc/cgroup
# namespaces. The host root is reused READ-ONLY (per-mount flag, only inside the new mount namespace);
# /run, /tmp, /var/tmp, /dev are private; /sys and /proc/sys are read-only; the cgroup hierarchies
# are re-mounted inside a cgroup namespace rooted at a fresh child cgroup, so MemoryMax= etc. apply.
# The network namespace is SHARED with the host (loopback ports are reachable from both sides).
#
# Env: CONTAINER_STATE (state dir, default /tmp/ullm-systemd-container/state), CONTAINER_CGNAME (cgroup dir name),
#      CONTAINER_DBUS=1|0 (start dbus-daemon inside, default 1), CONTAINER_TIMEOUT (seconds, default 30),
#      CONTAINER_RW_PATHS="space separated existing host dirs to keep writable (and shared) inside"
# Output: $CONTAINER_STATE/env (CONTAINER_PID, DBUS_SYSTEM_BUS_ADDRESS, SYSTEMD_PRIVATE_ADDRESS, CONTAINER_EXEC)
set -euo pipefail
STATE=${CONTAINER_STATE:-/tmp/ullm-systemd-container/state}
CGNAME=${CONTAINER_CGNAME:-ullm-systemd-container}
export CONTAINER_DBUS=${CONTAINER_DBUS:-1} CONTAINER_RW_PATHS=${CONTAINER_RW_PATHS:-} CONTAINER_STATE=$STATE
TIMEOUT=${CONTAINER_TIMEOUT:-30}
SYSTEMD=/lib/systemd/systemd

[ "$(id -u)" = 0 ] || { echo "systemd-container/boot.sh: must run as root" >&2; exit 1; }
mkdir -p "$STATE"
if [ -s "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
  echo "systemd-container/boot.sh: already running (pid $(cat "$STATE/pid"))" >&2; exit 1
fi
rm -f "$STATE/pid" "$STATE/unshare.pid" "$STATE/env" "$STATE/cgroups"
: > "$STATE/console.log"
[ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] || { echo "systemd-container/boot.sh: only the hybrid/legacy (v1) cgroup layout is handled" >&2; exit 1; }

# host cgroup mounts: "fstype mountpoint superopts(minus rw/ro)"
export CONTAINER_CGMOUNTS="$(awk '{for(i=7;i<=NF;i++) if($i=="-") break; t=$(i+1); o=$(i+3);
  if (t=="cgroup"||t=="cgroup2") { gsub(/(^|,)(rw|ro)(,|$)/, ",", o); gsub(/^,+|,+$/, "", o); print t, $5, o }}' /proc/self/mountinfo)"

cat > "$STATE/inner.sh" <<'INNER'
#!/bin/bash
# PID 1 of the new namespaces: build the mount layout, then exec systemd.
set -euo pipefail
S=$CONTAINER_STATE
mount() { command mount -n "$@"; }   # -n: no utab, so nothing is written under the host's /run/mount
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
# private /dev (built in a staging dir, then moved over /dev)
mkdir /run/.dev; mount -t tmpfs -o mode=755,nosuid tmpfs /run/.dev
for n in null zero full random urandom tty; do touch /run/.dev/$n; mount --bind /dev/$n /run/.dev/$n; done
touch /run/.dev/console; mount --bind /dev/null /run/.dev/console   # never the host console
mkdir /run/.dev/pts /run/.dev/shm
ln -s pts/ptmx /run/.dev/ptmx; ln -s /proc/self/fd /run/.dev/fd
for i in 0 1 2; do ln -s /proc/self/fd/$i /run/.dev/$(echo stdin stdout stderr | cut -d' ' -f$((i+1))); done
mount --move /run/.dev /dev; rmdir /run/.dev
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# writable host paths requested by the caller, then the whole root read-only (this namespace only)
i=0; for p in $CONTAINER_RW_PATHS; do mkdir -p /run/.rw/$i; mount --bind "$p" /run/.rw/$i; i=$((i+1)); done
mount -o remount,bind,ro /
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
i=0; for p in $CONTAINER_RW_PATHS; do mkdir -p "$p"; mount --move /run/.rw/$i "$p"; rmdir /run/.rw/$i; i=$((i+1)); done
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
if [ -e /proc/sysrq-trigger ]; then mount --bind /proc/sysrq-trigger /proc/sysrq-trigger; mount -o remount,bind,ro /proc/sysrq-trigger; fi
# cgroup hierarchies, mounted inside the cgroup namespace => rooted at our own cgroup
mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
while read -r t mp o; do
  [ -n "$t" ] || continue
  mkdir -p "$mp"; mount -t "$t" -o "nosuid,nodev,noexec${o:+,$o}" "$t" "$mp"
done <<< "$CONTAINER_CGMOUNTS"
# minimal boot target: sysinit (+ dbus); nothing from multi-user/timers is started
mkdir -p /run/systemd/system
{
  echo "[Unit]"; echo "Description=ullm test minimal target"
  if [ "$CONTAINER_DBUS" = 1 ]; then echo "Wants=sysinit.target dbus.socket dbus.service"; echo "After=sysinit.target dbus.service"
  else echo "Wants=sysinit.target"; echo "After=sysinit.target"; fi
} > /run/systemd/system/ullm-test.target
export container=ullm-test-unshare
exec /lib/systemd/systemd --unit=ullm-test.target --show-status=no --log-target=journal-or-kmsg
INNER
chmod 755 "$STATE/inner.sh"

T0=$(date +%s.%N)
(
  # move this subshell into a fresh child cgroup of the caller's cgroup in every hierarchy
  CGLINES=$(cat /proc/$BASHPID/cgroup)   # read fully first: it changes as we move
  while IFS=: read -r _ ctrls path; do
    if [ -z "$ctrls" ]; then mp=$(awk '$1=="cgroup2"{print $2; exit}' <<< "$CONTAINER_CGMOUNTS")
    else mp=$(while read -r t m o; do ok=1; for c in ${ctrls//,/ }; do [[ ",$o," == *",$c,"* ]] || ok=0; done
                [ "$t" = cgroup ] && [ $ok = 1 ] && { echo "$m"; break; }; done <<< "$CONTAINER_CGMOUNTS"); fi
    [ -n "$mp" ] || continue
    parent="$mp${path%/}"; dir="$parent/$CGNAME"
    mkdir -p "$dir"; echo "$dir" >> "$STATE/cgroups"
    if [ -f "$dir/cpuset.cpus" ] && [ -z "$(cat "$dir/cpuset.cpus")" ]; then
      cat "$parent/cpuset.cpus" > "$dir/cpuset.cpus"; cat "$parent/cpuset.mems" > "$dir/cpuset.mems"; fi
    echo $BASHPID > "$dir/cgroup.procs"
  done <<< "$CGLINES"
  exec setsid setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-wake_alarm,-syslog,-mac_admin,-mac_override \
       unshare --pid --fork --mount --uts --ipc --cgroup --mount-proc --propagation private "$STATE/inner.sh"
) >> "$STATE/console.log" 2>&1 < /dev/null &
UPID=$!; echo $UPID > "$STATE/unshare.pid"

PID=; st=; DEADLINE=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt $DEADLINE ]; do
  kill -0 $UPID 2>/dev/null || { echo "systemd-container/boot.sh: container exited early; see $STATE/console.log" >&2; exit 1; }
  PID=$(awk '{print $1}' /proc/$UPID/task/$UPID/children 2>/dev/null || true)
  if [ -n "$PID" ] && [ "$(readlink /proc/$PID/exe 2>/dev/null)" = "$(readlink -f $SYSTEMD)" ]; then
    st=$(timeout 5 nsenter -t $PID -m -p -- systemctl is-system-running 2>/dev/null || true)
    if [ "$st" = running ] || [ "$st" = degraded ]; then
      if [ "$CONTAINER_DBUS" != 1 ] || timeout 5 busctl --address=unix:path=/proc/$PID/root/run/dbus/system_bus_socket \
           get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager Version >/dev/null 2>&1; then
        break; fi
    fi
  fi
  sleep 0.05
done
if [ "$st" != running ] && [ "$st" != degraded ]; then echo "systemd-container/boot.sh: not ready after ${TIMEOUT}s (state '$st')" >&2; exit 1; fi
echo $PID > "$STATE/pid"
cat > "$STATE/env" <<ENV
CONTAINER_PID=$PID
DBUS_SYSTEM_BUS_ADDRESS=unix:path=/proc/$PID/root/run/dbus/system_bus_socket
SYSTEMD_PRIVATE_ADDRESS=unix:path=/proc/$PID/root/run/systemd/private
CONTAINER_EXEC="nsenter -t $PID -m -p --"
ENV
echo "systemd-container/boot.sh: systemd pid $PID ($st) ready in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"

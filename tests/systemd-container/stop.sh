#!/bin/bash
# Stop the container started by boot.sh and remove the cgroups it created.
STATE=${CONTAINER_STATE:-/tmp/ullm-systemd-container/state}
UPID=$(cat "$STATE/unshare.pid" 2>/dev/null || true)
PID=$(cat "$STATE/pid" 2>/dev/null || true)
[ -n "$PID" ] || PID=$(awk '{print $1}' /proc/$UPID/task/$UPID/children 2>/dev/null || true)
T0=$(date +%s.%N)
alive() { [ -n "$UPID" ] && kill -0 "$UPID" 2>/dev/null; }
if alive && [ -n "$PID" ]; then
  kill -s SIGRTMIN+4 "$PID" 2>/dev/null || true          # systemd: clean poweroff
  for i in $(seq 1 ${CONTAINER_STOP_GRACE:-100}); do alive || break; sleep 0.1; done
  if alive; then kill -KILL "$PID" 2>/dev/null || true; fi  # killing PID 1 of the ns kills all of it
  for i in $(seq 1 50); do alive || break; sleep 0.1; done
fi
alive && { echo "systemd-container/stop.sh: unshare $UPID still alive" >&2; exit 1; }
# remove the (now empty) cgroup subtrees, deepest first
if [ -f "$STATE/cgroups" ]; then
  while read -r d; do
    for i in 1 2 3 4 5; do
      [ -d "$d" ] || break
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null && break; sleep 0.2
    done
    [ -d "$d" ] && echo "systemd-container/stop.sh: could not remove $d" >&2
  done < "$STATE/cgroups"
fi
rm -f "$STATE/pid" "$STATE/unshare.pid" "$STATE/env" "$STATE/cgroups"
echo "systemd-container/stop.sh: stopped in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"

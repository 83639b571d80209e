#!/usr/bin/env bash
# Runs the real ullmd under packaging/systemd/unified-llm.service in a real systemd (a container,
# tests/packaging/systemd-container.sh) and checks that the sandboxed daemon comes up and behaves:
# READY=1 and its status line, the watchdog, both sockets with their modes and group, /health,
# ullmctl status, reload on SIGHUP, a clean stop, and a start that waits for systemd's bus to answer.
#
# Usage: tests/packaging/unit-in-systemd.sh [BUILD_DIR [ULLMD]]
#   BUILD_DIR holds the built ullmd and ullmctl (apphosts and dlls); default: the Debug build
#   outputs daemon/bin/Debug/net10.0 and ctl/bin/Debug/net10.0.
#   ULLMD: the ullmd to run instead of BUILD_DIR's, e.g. the native build (Native AOT) that users install. The unit sets
#   MemoryDenyWriteExecute=true, under which only a native ullmd runs: a JIT build dies with SIGSEGV.
# The unit is used unchanged except ExecStart=, which points at the build and at a config file in
# the container's /run (the container's /etc is the host's, read-only).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ullmd="${2:-${1:-$repo_root/daemon/bin/Debug/net10.0}/ullmd}"
ullmctl="${1:-$repo_root/ctl/bin/Debug/net10.0}/ullmctl"
[[ -x "$ullmd" && -x "$ullmctl" ]] || { echo "unit-in-systemd.sh: FAIL: $ullmd or $ullmctl is missing (dotnet build first)"; exit 1; }

# shellcheck source=tests/packaging/ullmd-in-container.sh
. "$repo_root/tests/packaging/ullmd-in-container.sh"

fail_with_journal() {
  echo "unit-in-systemd.sh: $failures check(s) failed; ullmd's journal:"
  inside journalctl -u unified-llm.service -o short-monotonic --no-pager | tail -40
  exit 1
}

# The admin group must exist inside; the container shares the host's (read-only) /etc/group, so use
# a group every Debian system has.
admin_group=users
mkdir -p "$CONTAINER_ROOT/run/ullm-test"
# The container's /tmp is private and the unit hides /home and /root, so the build is copied into its /run: the test
# then works from any clone location.
cp -a "$(dirname "$ullmd")" "$CONTAINER_ROOT/run/ullm-test/ullmd"
cp -a "$(dirname "$ullmctl")" "$CONTAINER_ROOT/run/ullm-test/ullmctl"
ullmd=/run/ullm-test/ullmd/ullmd
ullmctl=/run/ullm-test/ullmctl/ullmctl
cat >"$CONTAINER_ROOT/run/ullm-test/config.toml" <<EOF
[server]
tcp_listen = ""
admin_group = "$admin_group"
EOF
install_ullmd_unit "$ullmd --config /run/ullm-test/config.toml"

# Type=notify: start returns once ullmd sent READY=1 (or fails). .NET starts slowly on a busy machine.
started=$SECONDS
check "systemctl start returns success (READY=1 within the start timeout)" \
  timeout 300 nsenter -t "$CONTAINER_PID" -m -p -- systemctl start unified-llm.service
echo "   started in $((SECONDS - started)) s"
((failures == 0)) || fail_with_journal
property() { inside systemctl show -p "$1" --value unified-llm.service; }

check "the unit is active" test "$(property ActiveState)" = active
check "ullmd reported its status line" grep -q '^serving /run/unified-llm/openai.sock' <<<"$(property StatusText)"
check "ullmd reached systemd over D-Bus and chose the systemd supervisor" \
  grep -q 'backends run as transient systemd units' <<<"$(inside journalctl -u unified-llm.service -o cat --no-pager)"
check "the watchdog is armed at 60 s" test "$(property WatchdogUSec)" = 1min
main_pid="$(property MainPID)"
status="$(inside cat "/proc/$main_pid/status")"
check "ullmd runs with no_new_privs" grep -q $'^NoNewPrivs:\t1' <<<"$status"
check "ullmd runs under a seccomp filter" grep -q $'^Seccomp:\t2' <<<"$status"
check "ullmd runs with MemoryDenyWriteExecute" test "$(property MemoryDenyWriteExecute)" = yes
security="$(inside systemd-analyze security --no-pager unified-llm.service 2>&1 | tail -1)"
echo "   $security"
exposure="$(sed -n 's/.*Overall exposure level for unified-llm.service: \([0-9.]*\).*/\1/p' <<<"$security")"
check "systemd-analyze security rates the unit at most 3.0" awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 3.0) }'
# CAP_CHOWN (0), CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2), CAP_NET_BIND_SERVICE (10).
check "ullmd's capability bounding set is exactly the unit's" grep -q $'^CapBnd:\t0000000000000407' <<<"$status"
check "the state directory has the unit's StateDirectoryMode" test "$(inside stat -c %a /var/lib/unified-llm)" = 755

sockets="$CONTAINER_ROOT/run/unified-llm"
check "the OpenAI socket is mode 0666" test "$(stat -c %a "$sockets/openai.sock")" = 666
check "the admin socket is mode 0660, group $admin_group" test "$(stat -c '%a %G' "$sockets/admin.sock")" = "660 $admin_group"
check "/health answers over the unix socket" \
  test "$(curl --silent --max-time 30 --unix-socket "$sockets/openai.sock" http://localhost/health)" = '{"status":"ok"}'
ctl_status="$(inside "$ullmctl" status 2>&1 || true)"
check "ullmctl status reaches ullmd through the admin socket" grep -q '^ullmd ' <<<"$ctl_status"

check "systemctl reload succeeds" inside systemctl reload unified-llm.service
# ExecReload= only sends SIGHUP; follow the journal (which starts with the recent lines) until ullmd says it reloaded.
check "ullmd handled the reload" bash -c "timeout 60 nsenter -t $CONTAINER_PID -m -p -- journalctl -f -n 20 -u unified-llm.service -o cat | grep -q -m1 'Configuration reloaded'"
reload_entry="$(inside journalctl -u unified-llm.service -o json --no-pager | grep 'Configuration reloaded' | tail -1)"
check "ullmd logs through journald's native protocol, not stderr" grep -q '"_TRANSPORT":"journal"' <<<"$reload_entry"
check "ullmd's entries carry SYSLOG_IDENTIFIER=ullmd" grep -q '"SYSLOG_IDENTIFIER":"ullmd"' <<<"$reload_entry"
check "the reload entry is priority 6 (info)" grep -q '"PRIORITY":"6"' <<<"$reload_entry"
check "the same process still serves after the reload" test "$(property MainPID)" = "$main_pid"

check "systemctl stop succeeds" inside systemctl stop unified-llm.service
check "ullmd exited cleanly" test "$(property Result)" = success
check "the runtime directory is removed" test ! -e "$sockets"

# A start on a host booted with systemd waits for systemd's bus instead of running backends unsandboxed: the configured
# address (a link to systemd's private socket) appears only once ullmd has said, in its status, that it waits for it.
late=/run/ullm-test/late/systemd/private
mkdir -p "$CONTAINER_ROOT$(dirname "$late")"
sed "\$a systemd_address = \"unix:path=$late\"" "$CONTAINER_ROOT/run/ullm-test/config.toml" >"$CONTAINER_ROOT/run/ullm-test/config-late.toml"
install_ullmd_unit "$ullmd --config /run/ullm-test/config-late.toml"
inside systemctl start --no-block unified-llm.service
waiting=""
for _ in $(seq 120); do
  waiting="$(property StatusText)"
  [[ "$waiting" == "systemd does not answer at unix:path=$late"* ]] && break
  sleep 0.5
done
echo "   status while waiting: $waiting"
check "while systemd's bus is missing, ullmd's status says it waits for it" \
  grep -q "^systemd does not answer at unix:path=$late (.*); asking again in" <<<"$waiting"
check "ullmd is still starting, not serving with plain processes" test "$(property ActiveState)" = activating
ln -s /run/systemd/private "$CONTAINER_ROOT$late"
for _ in $(seq 120); do
  [[ "$(property ActiveState)" == activating ]] || break
  sleep 0.5
done
check "once the bus answers, the unit becomes active" test "$(property ActiveState)" = active
check "ullmd chose the systemd supervisor after asking again" \
  grep -q "backends run as transient systemd units: systemd answers at unix:path=$late (after [0-9]* attempts" \
  <<<"$(inside journalctl -u unified-llm.service -o cat --no-pager)"
check "systemctl stop succeeds after the late start" inside systemctl stop unified-llm.service

((failures == 0)) || fail_with_journal
echo "unit-in-systemd.sh: ullmd runs under packaging/systemd/unified-llm.service"

#!/usr/bin/env bash
# Checks packaging/systemd with systemd's own tools:
#   - systemd-analyze verify on the service and the slice. verify refuses a unit whose ExecStart
#     binary does not exist, and ullmd is not installed here, so the service is verified as a
#     copy whose ExecStart points at a stand-in executable in a temp dir; nothing else changes.
#     verify reports unknown keys and bad values as messages but still exits 0, so any output fails.
#   - systemd-tmpfiles --create and systemd-sysusers into a temp root: the directories and the
#     ullm-admin group they must create.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
units="$repo_root/packaging/systemd"
installed_ullmd=/usr/local/bin/ullmd

for tool in systemd-analyze systemd-tmpfiles systemd-sysusers; do
  command -v "$tool" >/dev/null 2>&1 || { echo "verify-units.sh: FAIL: $tool is missing (Debian: apt-get install systemd)"; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "verify-units.sh: FAIL: $*"; failures=$((failures + 1)); }

grep -q "^ExecStart=$installed_ullmd " "$units/unified-llm.service" ||
  fail "unified-llm.service: ExecStart does not start $installed_ullmd (update this script with it)"
mkdir -p "$work/bin"
printf '#!/bin/sh\nexit 0\n' >"$work/bin/ullmd"
chmod +x "$work/bin/ullmd"
sed "s|$installed_ullmd|$work/bin/ullmd|" "$units/unified-llm.service" >"$work/unified-llm.service"
cp "$units/ullm.slice" "$work/ullm.slice"

if ! report="$(systemd-analyze verify --man=no --generators=no "$work/unified-llm.service" "$work/ullm.slice" 2>&1)" || [[ -n "$report" ]]; then
  fail "systemd-analyze verify:"$'\n'"${report//$work/packaging/systemd}"
fi

root="$work/root"
mkdir -p "$root/etc"
if ! report="$(systemd-tmpfiles --root="$root" --create "$units/unified-llm.tmpfiles.conf" 2>&1)" || [[ -n "$report" ]]; then
  fail "systemd-tmpfiles --create unified-llm.tmpfiles.conf:"$'\n'"$report"
fi
for expected in "/etc/unified-llm 755" "/var/lib/unified-llm 755" "/var/lib/unified-llm/models 755"; do
  path="${expected% *}"
  mode="${expected#* }"
  [[ -d "$root$path" && "$(stat -c %a "$root$path")" == "$mode" ]] ||
    fail "unified-llm.tmpfiles.conf does not create $path with mode $mode"
done

if ! report="$(systemd-sysusers --root="$root" "$units/unified-llm.sysusers.conf" 2>&1)"; then
  fail "systemd-sysusers unified-llm.sysusers.conf:"$'\n'"$report"
fi
grep -q '^ullm-admin:x:[0-9]*:$' "$root/etc/group" 2>/dev/null ||
  fail "unified-llm.sysusers.conf does not create the group ullm-admin"

if ((failures > 0)); then
  echo "verify-units.sh: $failures check(s) failed"
  exit 1
fi
echo "verify-units.sh: unified-llm.service, ullm.slice, tmpfiles.d and sysusers.d entries are valid"

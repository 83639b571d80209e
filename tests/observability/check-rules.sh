#!/usr/bin/env bash
# Checks ullmd's Prometheus alert rules with promtool (Debian: apt-get install prometheus):
# `promtool check rules`, then `promtool test rules` on the unit tests, after making sure every
# alert of alerts.yml has a unit test that expects it firing and one that expects it silent.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rules="$repo_root/packaging/observability/prometheus/alerts.yml"
tests="$repo_root/packaging/observability/prometheus/alerts.test.yml"
command -v promtool >/dev/null 2>&1 || { echo "check-rules.sh: FAIL: promtool is missing (Debian: apt-get install prometheus)"; exit 1; }

promtool check rules "$rules"

mapfile -t alerts < <(sed -n 's/^[[:space:]]*- alert: \([A-Za-z0-9_]*\)[[:space:]]*$/\1/p' "$rules")
((${#alerts[@]} > 0)) || { echo "check-rules.sh: FAIL: no alerts found in $rules"; exit 1; }
untested=()
for alert in "${alerts[@]}"; do
  # The line after "alertname: NAME" is "exp_alerts: []" (silent) or "exp_alerts:" (firing, a list follows).
  after="$(grep -A1 -E "^[[:space:]]*alertname: $alert[[:space:]]*$" "$tests" | sed -n 's/^[[:space:]]*\(exp_alerts:.*\)$/\1/p' | sort -u)"
  grep -qx 'exp_alerts: \[\]' <<<"$after" || untested+=("$alert (never expected silent)")
  grep -qx 'exp_alerts:' <<<"$after" || untested+=("$alert (never expected firing)")
done
if ((${#untested[@]} > 0)); then
  printf 'check-rules.sh: FAIL: alert without a unit test: %s\n' "${untested[@]}"
  exit 1
fi

promtool test rules "$tests"
echo "check-rules.sh: passed: ${#alerts[@]} alerts, each tested firing and silent"

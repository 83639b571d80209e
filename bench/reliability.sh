#!/usr/bin/env bash
# One command: the reliability suite's longer runs (issue #21). Runs the suite's tests (tests/UnifiedLlm.Tests/Reliability:
# faults, overload, fuzzing, the secret sweep) against a real ullmd and a real llama-server with their counts multiplied
# by SCALE, collects the figures each test measured, and writes the "reliability" section of bench/RESULTS.md.
# usage: bash bench/reliability.sh [scale, default 3]   (also: bash bench/run.sh reliability [scale])
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
scale="${1:-3}"
out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-reliability.XXXXXX")"
trap 'rm -rf "$out"' EXIT

ULLM_LLAMA_SERVER="$(bash tests/tools/llama-server.sh)"
export ULLM_LLAMA_SERVER
load_at_start="$(cut -d' ' -f1 /proc/loadavg)"
dotnet build tests/UnifiedLlm.Tests/UnifiedLlm.Tests.csproj >&2

figures="$out/figures.tsv"
: >"$figures"
started="$(date +%s)"
classes=(RequestFuzzTests ConfigFuzzTests AdminFuzzTests DaemonFaultTests OverloadTests SecretSweepTests)
filters=()
for class in "${classes[@]}"; do filters+=(--filter-class "UnifiedLlm.Tests.Reliability.$class"); done
set +e
ULLM_RELIABILITY_SCALE="$scale" ULLM_RELIABILITY_FIGURES="$figures" \
  dotnet test --project tests/UnifiedLlm.Tests/UnifiedLlm.Tests.csproj --no-build -- "${filters[@]}" >"$out/test.log" 2>&1
tests_status=$?
set -e
seconds=$(($(date +%s) - started))
count() { grep -m1 -E "^\s+$1:" "$out/test.log" | tr -dc '0-9' || echo 0; }
figure() { awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "not measured (its test failed or was skipped)" : v) }' "$figures"; }
failed_tests="$(grep -E '^failed ' "$out/test.log" | sed -E 's/^failed UnifiedLlm\.Tests\.Reliability\.//; s/ \(.*//' || true)"

section="$out/section.md"
cat >"$section" <<MD
<!-- reliability:begin -->
## Reliability: faults, overload, fuzzing and secrets (issue #21)

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`bash bench/reliability.sh $scale\` (the suite's CI counts × $scale), ${seconds} s
- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores (shared with other work; 1-minute load ${load_at_start} at the start), $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), .NET $(dotnet --version)
- Everything real: ullmd and ullmctl as built, llama-server \`$(basename "$(dirname "$ULLM_LLAMA_SERVER")")\` serving the tiny test model on CPU, SQLite, unix sockets; the cloud providers are fake upstreams on loopback (they quote the key they receive).
- Tests: $(count succeeded) passed, $(count failed) failed, $(count skipped) skipped, of $(count total)${failed_tests:+ (failed: $(echo "$failed_tests" | paste -sd, -))}

| what | result |
|------|--------|
| load held | $(figure overload) |
| Retry-After vs the real wait | $(figure overload.retry_after) |
| backend SIGKILL mid-stream | $(figure fault.backend_sigkill_mid_stream): the client got an error event and no \`[DONE]\`, the audit row says so, the next request reloaded it |
| ullmd SIGKILL under load | $(figure fault.ullmd_sigkill_under_load) |
| data directory full (16 MiB tmpfs) | $(figure fault.data_dir_full) |
| database locked by another process | $(figure fault.database_locked) |
| clients leaving mid-stream | $(figure fault.disconnect_storm) |
| inputs tried: OpenAI body scan | $(figure fuzz.openai_scan) (each as chat, completion and embedding) |
| inputs tried: Anthropic translator | $(figure fuzz.anthropic_translator) |
| inputs tried: bodies over HTTP | $(figure fuzz.http_bodies) |
| inputs tried: TOML config loader | $(figure fuzz.config_loader) |
| inputs tried: admin RPCs | $(figure fuzz.admin_rpcs) (random messages of each request type and raw bytes, over the admin socket) |
| audit rows lost (target 0) | $(figure audit.rows_lost) requests a client saw finish before the SIGKILL (each answer's end goes out once its row is committed) |
| secrets leaked (target 0) | $(figure secrets.leaked) occurrences in $(figure secrets.places) places searched after $(figure secrets.requests) requests (log, database and its -wal/-shm, every admin answer, events, /metrics, client error bodies, the backend's environment); the upstream's own answer text quoting the key reached the client $(figure secrets.success_echoes) times, as any answer text does |

Targets: only typed errors from every fuzzer, 0 rows lost, 0 secrets leaked. An answer's end goes out only once its
audit row is committed, so a SIGKILL loses no row of a request a client saw finish; rows of refusals and errors are
batched for up to 50 ms and may be lost with the process (docs/security.md).
<!-- reliability:end -->
MD

if grep -q '<!-- reliability:begin -->' bench/RESULTS.md; then
  awk -v f="$section" 'BEGIN { while ((getline l < f) > 0) s = s l "\n" }
    /<!-- reliability:begin -->/ { printf "%s", s; skip = 1; next }
    /<!-- reliability:end -->/ { skip = 0; next }
    !skip' bench/RESULTS.md >"$out/RESULTS.md"
else
  { cat bench/RESULTS.md; echo; cat "$section"; } >"$out/RESULTS.md"
fi
cp "$out/RESULTS.md" bench/RESULTS.md
cat "$section"
if ((tests_status != 0)); then
  grep -E -A8 '^failed ' "$out/test.log" >&2 || true
  echo "bench/reliability.sh: the suite failed (exit $tests_status); the section says which tests" >&2
  exit "$tests_status"
fi

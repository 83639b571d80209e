#!/usr/bin/env bash
# One command: builds the scheduler benchmark (Release), gets llama-server, loads the tiny model through the real
# scheduler and measures lease acquire+release per second and its latency with 1, 16 and 256 concurrent requesters on
# the ready instance. Writes the "scheduler-LABEL" section of bench/RESULTS.md.
# usage: bash bench/scheduler.sh before|after [seconds per round, default 5] [rounds, default 3]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
label="${1:?usage: bench/scheduler.sh before|after [seconds] [rounds]}"
seconds="${2:-5}"
rounds="${3:-3}"
# Named before the build: the worktree may change while it runs.
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- daemon || echo '+changes')"
out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-scheduler-bench.XXXXXX")"
trap 'rm -rf "$out"' EXIT

llama_server="$(bash tests/tools/llama-server.sh)"
dotnet build -c Release -o "$out/bench" bench/SchedulerBench/SchedulerBench.csproj >&2
dotnet "$out/bench/SchedulerBench.dll" --llama-server "$llama_server" --out bench/RESULTS.md --label "$label" \
  --commit "$commit" --seconds "$seconds" --rounds "$rounds"

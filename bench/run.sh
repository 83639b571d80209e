#!/usr/bin/env bash
# One command: builds ullmd and the benchmark (Release), gets llama-server and the tiny model, and measures direct vs
# through ullmd (TCP and unix socket) side by side in one run. Writes bench/RESULTS.md.
# usage: bash bench/run.sh [seconds per concurrency step, default 5]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
seconds="${1:-5}"
out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-bench-build.XXXXXX")"
trap 'rm -rf "$out"' EXIT

llama_server="$(bash tests/tools/llama-server.sh)"
dotnet build -c Release -o "$out/ullmd" daemon/Ullmd.csproj >&2
dotnet build -c Release -o "$out/bench" bench/GatewayBench/GatewayBench.csproj >&2
dotnet run -c Release --project tests/tools/MakeTinyModel -- "$out/tiny.gguf" >&2
dotnet "$out/bench/GatewayBench.dll" --ullmd "$out/ullmd/ullmd.dll" --llama-server "$llama_server" \
  --model "$out/tiny.gguf" --out bench/RESULTS.md --seconds "$seconds"

#!/usr/bin/env bash
# Compares ullmd's host-memory estimate for CPU-only llama.cpp loads with a real llama-server's resident memory, for
# two random-weight models (about 0.4 and 1.4 GB), and writes its section of bench/RESULTS.md.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llama_server="$(bash "$repo_root/tests/tools/llama-server.sh")"
work="${XDG_CACHE_HOME:-$HOME/.cache}/unified-llm/bench-models"
dotnet run --project "$repo_root/bench/MemoryAccuracy" -c Release -- "$llama_server" "$repo_root/bench/RESULTS.md" "$work"

#!/usr/bin/env bash
# One command: builds ullmd (Release), gets llama-server and the tiny model, starts ullmd with the tiny model at
# parallel = 4, loads it, then starts a second llama-server directly with the very argv ullmd gave its own (read from
# /proc, on another port), and measures aggregate completion tokens/s of 1, 4 and 16 concurrent streaming clients
# against both, step by step (bench/throughput.py). Prints a Markdown table for bench/RESULTS.md.
# usage: bash bench/throughput.sh [seconds per step, default 10]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
seconds="${1:-10}"
out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-throughput.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

llama_server="$(bash tests/tools/llama-server.sh)"
dotnet build -c Release -o "$out/ullmd" daemon/Ullmd.csproj >&2
dotnet run -c Release --project tests/tools/MakeTinyModel -- "$out/tiny.gguf" >&2
ullmd_port="$(free_port)"
direct_port="$(free_port)"
cat > "$out/config.toml" <<TOML
[server]
data_dir = "$out/data"
openai_socket = "$out/openai.sock"
admin_socket = "$out/admin.sock"
tcp_listen = "127.0.0.1:$ullmd_port"
supervisor = "process"
stop_backends_on_exit = true

[security]
require_key_on_tcp = false

[backends.llamacpp]
executable = "$llama_server"

[models.tiny]
backend = "llamacpp"
source = "$out/tiny.gguf"
context = 256
parallel = 4
TOML
dotnet "$out/ullmd/ullmd.dll" --config "$out/config.toml" >"$out/ullmd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$ullmd_port/health" >/dev/null && break
  sleep 0.5
done
# The first request loads the model; its llama-server's argv is then the one to copy.
curl -sf "http://127.0.0.1:$ullmd_port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2}' >/dev/null
backend_pid="$(pgrep -f -- "$out/tiny.gguf" | head -1)"
mapfile -d '' argv < "/proc/$backend_pid/cmdline"
for i in "${!argv[@]}"; do
  if [[ "${argv[$i]}" == "--port" ]]; then argv[$((i + 1))]="$direct_port"; fi
done
echo "llama-server argv (ullmd's and the direct one's, but for --port): ${argv[*]}" >&2
"${argv[@]}" >"$out/direct.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$direct_port/health" >/dev/null && break
  sleep 0.5
done
echo "machine: $(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
python3 bench/throughput.py --model tiny --seconds "$seconds" \
  --target "direct=http://127.0.0.1:$direct_port/v1" --target "ullmd=http://127.0.0.1:$ullmd_port/v1"

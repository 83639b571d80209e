#!/usr/bin/env bash
# One command: publishes ullmd with Native AOT (as it ships), gets llama-server, the tiny model and nginx, starts ullmd
# with the tiny model at parallel = 4 and loads it, then starts a second llama-server directly with the very argv ullmd
# gave its own (read from /proc, on another port) and nginx as a plain streaming proxy in front of that direct one (the
# yardstick: what any proxy costs on this machine). bench/throughput.py then measures aggregate completion tokens/s of
# 1, 4 and 16 concurrent streaming clients against direct, nginx and ullmd, in rounds with the order rotated, and the
# CPU each relay spends per streamed token. Prints Markdown tables for bench/RESULTS.md.
# usage: bash bench/throughput.sh [--seconds S (per step and round, default 5)] [--rounds R (default 5)]
#          [--also NAME=BINARY (another ullmd build beside the published one, e.g. one published from an earlier commit;
#           --also ullmd=BINARY measures that build instead of publishing one)]
#          [--env NAME=VAR=VALUE (a ullmd of that name run with this environment setting; the published build unless
#           --also names it)]
#          [--model-threads N (llama-server computes on N threads, ullmd's and the direct one alike: with fewer threads
#           than cores a relay's CPU no longer takes the model's, as on a GPU host where the model computes on the GPU)]
# THROUGHPUT_CLIENTS=1,4 in the environment measures only those client counts (default 1,4,16).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
seconds=5
rounds=5
model_threads=""
variants=(ullmd)
declare -A variant_binary=() variant_env=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --model-threads) model_threads="$2"; shift 2 ;;
    --also)
      name="${2%%=*}"
      variant_binary[$name]="${2#*=}"
      [[ " ${variants[*]} " == *" $name "* ]] || variants+=("$name")
      shift 2 ;;
    --env)
      name="${2%%=*}"
      variant_env[$name]="${variant_env[$name]:-} ${2#*=}"
      [[ " ${variants[*]} " == *" $name "* ]] || variants+=("$name")
      shift 2 ;;
    *) echo "throughput.sh: unknown argument '$1' (see the usage at the top of bench/throughput.sh)" >&2; exit 2 ;;
  esac
done

out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-throughput.XXXXXX")"
# A publish for a runtime adds that runtime's section to the projects' lock files: put back as they were on exit.
locks=(daemon/packages.lock.json protos/packages.lock.json)
for lock in "${locks[@]}"; do cp "$lock" "$out/${lock//\//_}"; done
pids=()
finish() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for lock in "${locks[@]}"; do cp "$out/${lock//\//_}" "$lock"; done
  rm -rf "$out"
}
trap finish EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() {
  for _ in $(seq 1 240); do
    curl -sf "$1/health" >/dev/null && return 0
    sleep 0.25
  done
  echo "throughput.sh: $1/health did not answer" >&2
  return 1
}
nginx="$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)"
if [[ -z "$nginx" ]]; then
  echo "throughput.sh: nginx is missing (apt-get install nginx-light); bench/run.sh installs it too" >&2
  exit 1
fi

llama_server="$(bash tests/tools/llama-server.sh)"
if [[ -z "${variant_binary[ullmd]:-}" ]]; then
  dotnet publish daemon/Ullmd.csproj -c Release --verbosity quiet -o "$out/ullmd" >&2
fi
dotnet run -c Release --project tests/tools/MakeTinyModel -- "$out/tiny.gguf" >&2

declare -A ullmd_port=() ullmd_pid=() backend_pid=()
start_ullmd() {
  local name="$1" binary="${variant_binary[$1]:-$out/ullmd/ullmd}" dir="$out/$1" port
  port="$(free_port)"
  mkdir -p "$dir"
  cat > "$dir/config.toml" <<TOML
[server]
data_dir = "$dir/data"
openai_socket = "$dir/openai.sock"
admin_socket = "$dir/admin.sock"
tcp_listen = "127.0.0.1:$port"
supervisor = "process"
stop_backends_on_exit = true

[security]
require_key_on_tcp = false
# The bench's clients are anonymous; at hundreds of streams a second the default 600/min would refuse them.
default_requests_per_minute = 0

[backends.llamacpp]
executable = "$llama_server"

[models.tiny]
backend = "llamacpp"
source = "$out/tiny.gguf"
context = 256
parallel = 4
${model_threads:+extra_args = [\"--threads\", \"$model_threads\"]}
TOML
  # shellcheck disable=SC2086 # the settings are words by design
  env ${variant_env[$name]:-} "$binary" --config "$dir/config.toml" >"$dir/ullmd.log" 2>&1 &
  pids+=($!)
  ullmd_pid[$name]=$!
  ullmd_port[$name]=$port
  wait_healthy "http://127.0.0.1:$port"
  # The first request loads the model; its llama-server is then ullmd's child.
  curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2}' >/dev/null
  backend_pid[$name]="$(pgrep -P "${ullmd_pid[$name]}" -f -- "$out/tiny.gguf" | head -1)"
}
for name in "${variants[@]}"; do start_ullmd "$name"; done

mapfile -d '' argv < "/proc/${backend_pid[ullmd]}/cmdline"
direct_port="$(free_port)"
for i in "${!argv[@]}"; do
  if [[ "${argv[$i]}" == "--port" ]]; then argv[$((i + 1))]="$direct_port"; fi
done
echo "llama-server argv (ullmd's and the direct one's, but for --port): ${argv[*]}" >&2
"${argv[@]}" >"$out/direct.log" 2>&1 &
pids+=($!)
direct_pid=$!
wait_healthy "http://127.0.0.1:$direct_port"

# The yardstick: nginx as a plain streaming proxy with one worker, keep-alive HTTP/1.1 to the direct llama-server and
# no response buffering, so each event goes on as it comes (as bench/GatewayBench/NginxProxy.cs runs it, from a
# generated config, never as a system service).
nginx_port="$(free_port)"
mkdir -p "$out/nginx"
cat > "$out/nginx/nginx.conf" <<NGINX
daemon off;
master_process on;
worker_processes 1;
pid $out/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $out/nginx/client_body;
    proxy_temp_path $out/nginx/proxy;
    fastcgi_temp_path $out/nginx/fastcgi;
    uwsgi_temp_path $out/nginx/uwsgi;
    scgi_temp_path $out/nginx/scgi;
    upstream direct {
        server 127.0.0.1:$direct_port;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        keepalive_requests 10000000;
        location / {
            proxy_pass http://direct;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            # llama-server closes a connection once it has streamed a response on it; a POST that meets such a
            # connection is sent again on a new one, as ullmd does for its local backends.
            proxy_next_upstream error timeout non_idempotent;
        }
    }
}
NGINX
"$nginx" -p "$out/nginx" -c "$out/nginx/nginx.conf" -e stderr >"$out/nginx/nginx.log" 2>&1 &
pids+=($!)
nginx_pid=$!
wait_healthy "http://127.0.0.1:$nginx_port"
nginx_workers="$(pgrep -P "$nginx_pid" | paste -sd, -)"

targets=(--target "direct=http://127.0.0.1:$direct_port/v1" --target "nginx=http://127.0.0.1:$nginx_port/v1")
cpu=(--cpu "nginx=$nginx_workers" --model-cpu "direct=$direct_pid")
for name in "${variants[@]}"; do
  targets+=(--target "$name=http://127.0.0.1:${ullmd_port[$name]}/v1")
  cpu+=(--cpu "$name=${ullmd_pid[$name]}" --model-cpu "$name=${backend_pid[$name]}")
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- daemon || echo ' + uncommitted changes')"
for name in "${variants[@]}"; do
  echo "$name: ${variant_binary[$name]:-ullmd published from this tree (Native AOT)}${variant_env[$name]:+, with${variant_env[$name]}}"
done
echo "$seconds s per step and round, $rounds rounds${model_threads:+; llama-server computes on $model_threads thread(s) of $(nproc) cores (--threads $model_threads)}"
echo
python3 bench/throughput.py --model tiny ${THROUGHPUT_CLIENTS:+--clients "$THROUGHPUT_CLIENTS"} --seconds "$seconds" --rounds "$rounds" "${targets[@]}" "${cpu[@]}"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# One command: where ullmd's request threads wait at one client at a time, and how much of it is behind the audit
# writer, for two or more ullmd builds side by side. Starts nginx's `return 200` as the stub upstream and each build with
# the same config (audit journal and SQLite on, as the gateway bench runs it), then in rounds, the builds alternated,
# drives each with `wrk -t1 -c1` while `perf record -a` takes the scheduler's switch and wakeup records, and charges
# every wait of the request threads to what held their core (bench/audit-waits.py). Prints its lines; the figures go into
# bench/RESULTS.md by hand, beside the gateway bench's.
# usage: bash bench/audit-waits.sh [--rounds R (default 4)] [--seconds S (default 6)] LABEL=ULLMD_BINARY...
#   e.g. bash bench/audit-waits.sh base=/tmp/base/ullmd fix=/tmp/fix/ullmd (Native AOT publishes of each build)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=4
seconds=6
builds=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *=*) builds+=("$1"); shift ;;
    *) echo "audit-waits: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ ${#builds[@]} -ge 1 ]] || { echo "usage: bash bench/audit-waits.sh [--rounds R] [--seconds S] LABEL=ULLMD_BINARY..." >&2; exit 2; }
for tool in perf wrk nginx; do
  command -v "$tool" >/dev/null || [[ "$tool" == nginx && -x /usr/sbin/nginx ]] || { echo "audit-waits: $tool is missing" >&2; exit 1; }
done
nginx="$(command -v nginx || echo /usr/sbin/nginx)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ullm-audit-waits.XXXXXX")"
pids=()
finish() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap finish EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_answering() {
  for _ in $(seq 100); do
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$1/v1/chat/completions" && return 0
    sleep 0.1
  done
  echo "audit-waits: nothing answers on port $1" >&2
  exit 1
}
body='{"model":"stub","messages":[{"role":"user","content":"hello"}],"max_tokens":1,"ignore_eos":true,"stream":false}'
completion='{"id":"bench","object":"chat.completion","created":1,"model":"stub","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
stub_port="$(free_port)"
mkdir -p "$work/stub"
cat >"$work/stub/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $work/stub/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/stub/body;
    proxy_temp_path $work/stub/proxy;
    fastcgi_temp_path $work/stub/fastcgi;
    uwsgi_temp_path $work/stub/uwsgi;
    scgi_temp_path $work/stub/scgi;
    server {
        listen 127.0.0.1:$stub_port;
        keepalive_requests 10000000;
        location / { default_type application/json; return 200 '$completion'; }
    }
}
NGINX
"$nginx" -p "$work/stub" -c "$work/stub/nginx.conf" -e stderr 2>"$work/stub/log" &
pids+=($!)
wait_answering "$stub_port"

declare -A port=() pid_of=()
for build in "${builds[@]}"; do
  label="${build%%=*}"
  dir="$work/$label"
  mkdir -p "$dir"
  port[$label]="$(free_port)"
  cat >"$dir/ullm.toml" <<TOML
[server]
data_dir = "$dir"
openai_socket = "$dir/openai.sock"
admin_socket = "$dir/admin.sock"
tcp_listen = "127.0.0.1:${port[$label]}"
log_level = "warning"

[providers.stub]
kind = "openai"
base_url = "http://127.0.0.1:$stub_port/v1"
models = ["stub"]

[security]
require_key_on_tcp = false
anonymous_providers = true
default_requests_per_minute = 0
TOML
  "${build#*=}" --config "$dir/ullm.toml" >"$dir/log" 2>&1 &
  pid_of[$label]=$!
  pids+=($!)
  wait_answering "${port[$label]}"
done
printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' "'$body'" >"$work/post.lua"

echo "audit-waits: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, 1-minute load $(cut -d' ' -f1 /proc/loadavg), $rounds rounds of $seconds s at one client"
for round in $(seq "$rounds"); do
  for build in "${builds[@]}"; do
    label="${build%%=*}"
    pid="${pid_of[$label]}"
    wrk -t1 -c1 -d"${seconds}s" -s "$work/post.lua" --latency "http://127.0.0.1:${port[$label]}/v1/chat/completions" >"$work/wrk" &
    load=$!
    sleep 0.5
    timeout $((seconds - 1)) perf record -q -a -e sched:sched_switch -e sched:sched_wakeup -o "$work/sched.data" >/dev/null 2>&1 || true
    wait "$load"
    requests="$(awk -v recorded=$((seconds - 1)) '/requests in/ { sub(/s,/, "", $4); print $1 * recorded / $4 }' "$work/wrk")"
    echo "round $round $label: $(awk '/Requests\/sec/ { printf "%d", $2 }' "$work/wrk") req/s, p99 $(awk '$1 == "99%" { print $2 }' "$work/wrk"), load $(cut -d' ' -f1 /proc/loadavg)"
    # The five largest causes, and the audit writer's wherever it ranks.
    perf script -F comm,pid,tid,cpu,time,event,trace -i "$work/sched.data" 2>/dev/null \
      | python3 "$repo_root/bench/audit-waits.py" "$pid" "$requests" "round $round $label" \
      | awk '/audit writer/ || NR <= 5'
  done
done

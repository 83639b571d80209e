#!/usr/bin/env bash
# One command: publishes ullmd and the bare relays (bench/BareRelay) with Native AOT, as ullmd ships, builds the
# benchmark (Release), gets llama-server, the tiny model and nginx, and measures nginx's own `return 200` (the stub
# upstream) direct, through nginx (the yardstick; also with its default access log), through ullmd (TCP and unix
# socket), through the bare relays (hand-written and YARP) and through the Portkey gateway from npm, side by side in one
# run. Writes the gateway section of bench/RESULTS.md.
# usage: bash bench/run.sh [seconds per concurrency step and round, default 5] (three rounds, the median reported)
# bash bench/run.sh reliability [scale] runs bench/reliability.sh instead (faults, overload, fuzzing, secrets).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
if [[ "${1:-}" == reliability ]]; then
  shift
  exec bash bench/reliability.sh "$@"
fi
seconds="${1:-5}"
out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-bench-build.XXXXXX")"
# A publish for a runtime adds that runtime's section to the projects' lock files: the bench puts them back as they
# were when it exits, whatever happened (as bench/startup.sh does).
locks=(daemon/packages.lock.json protos/packages.lock.json bench/BareRelay/packages.lock.json)
for lock in "${locks[@]}"; do cp "$lock" "$out/${lock//\//_}"; done
finish() {
  for lock in "${locks[@]}"; do cp "$out/${lock//\//_}" "$lock"; done
  rm -rf "$out"
}
trap finish EXIT

# nginx runs from a config the bench generates, never as a system service; apt only installs the binary.
find_nginx() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }
nginx_missing=""
nginx="$(find_nginx)"
if [[ -z "$nginx" ]]; then
  echo "bench: nginx is missing; installing nginx-light with apt-get" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; } >"$out/apt.log" 2>&1; then
    nginx_missing="apt-get could not install nginx: $(tail -n 3 "$out/apt.log" | tr '\n' ' ')"
  fi
  nginx="$(find_nginx)"
  # Debian starts the service it installs; the bench runs its own nginx and leaves the machine's as it found it.
  if [[ -n "$nginx" ]] && command -v service >/dev/null; then service nginx stop >/dev/null 2>&1 || true; fi
fi

llama_server="$(bash tests/tools/llama-server.sh)"
dotnet publish daemon/Ullmd.csproj -c Release --verbosity quiet -o "$out/ullmd" >&2
dotnet publish bench/BareRelay/BareRelay.csproj -c Release --verbosity quiet -o "$out/relay" >&2
dotnet build -c Release -o "$out/bench" bench/GatewayBench/GatewayBench.csproj >&2
dotnet run -c Release --project tests/tools/MakeTinyModel -- "$out/tiny.gguf" >&2
dotnet "$out/bench/GatewayBench.dll" --ullmd "$out/ullmd/ullmd" --relay "$out/relay/bare-relay" --llama-server "$llama_server" \
  --model "$out/tiny.gguf" --out bench/RESULTS.md --seconds "$seconds" \
  --nginx "$nginx" --nginx-missing "${nginx_missing:-nginx not found after installing it}" --npx "$(command -v npx || echo npx)" \
  --wrk "$(command -v wrk || echo wrk)"

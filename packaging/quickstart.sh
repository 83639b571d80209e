#!/usr/bin/env bash
# ullmd serving a real model end to end, on its default sockets:
#   builds ullmd and ullmctl, gets a llama-server (PATH or the pinned build cached in ~/.cache/unified-llm),
#   writes a tiny random-weight model (or uses the GGUF file given as $1), starts ullmd on a demo config,
#   streams a chat completion through /run/unified-llm/openai.sock, prints `ullmctl status`,
#   and keeps ullmd in the foreground until Ctrl-C.
# Usage: sudo bash packaging/quickstart.sh [MODEL.gguf]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${XDG_CACHE_HOME:-$HOME/.cache}/unified-llm/quickstart"
log() { printf 'quickstart: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "ullmd is a root daemon (it creates /run/unified-llm and starts backends): run with sudo"
command -v dotnet >/dev/null 2>&1 || die "dotnet is not on PATH: install the .NET 10 SDK"
command -v curl >/dev/null 2>&1 || die "curl is not on PATH: apt-get install curl"
# ullmd and ullmctl are published as native executables (Native AOT), which link with clang against zlib: installed with
# apt-get when missing, as tests/tools/llama-server.sh does for the llama.cpp build.
if ! command -v clang >/dev/null 2>&1 || [[ ! -f /usr/include/zlib.h ]]; then
  command -v apt-get >/dev/null 2>&1 || die "clang and zlib's headers are needed (the native builds of ullmd and ullmctl link with them): install clang and zlib1g-dev"
  log "installing clang and zlib1g-dev (the native builds of ullmd and ullmctl link with them)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang zlib1g-dev >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang zlib1g-dev >&2; } ||
    die "apt-get could not install clang zlib1g-dev"
fi
model="${1:-}"
if [[ -n "$model" ]]; then
  [[ -f "$model" ]] || die "$model is not a file"
  model="$(realpath "$model")"
fi

mkdir -p "$work"
log "building ullmd and ullmctl"
dotnet publish "$repo_root/daemon/Ullmd.csproj" -c Release -o "$work/ullmd" --verbosity quiet >&2
dotnet publish "$repo_root/ctl/Ullmctl.csproj" -c Release -o "$work/ullmctl" --verbosity quiet >&2
llama_server="$(bash "$repo_root/tests/tools/llama-server.sh")"
log "llama-server: $llama_server"

# Under systemd each backend runs as a dynamic user that cannot enter /root: llama-server and the demo model are
# staged where any user can read them.
stage=/var/lib/unified-llm-quickstart
install -d -m 0755 "$stage"
install -m 0755 "$llama_server" "$stage/llama-server"
llama_server="$stage/llama-server"
if [[ -z "$model" ]]; then
  model="$stage/tiny.gguf"
  dotnet run --project "$repo_root/tests/tools/MakeTinyModel" -c Release -- "$model" >&2
  chmod 0644 "$model"
fi
supervisor=auto
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$model"; then
  log "$model is not readable by other users, so a sandboxed backend unit could not open it; using plain processes"
  supervisor=process
fi

config="$work/config.toml"
cat >"$config" <<EOF
# Written by packaging/quickstart.sh: ullmd's defaults plus one model.
[server]
supervisor = "$supervisor"

[backends.llamacpp]
executable = "$llama_server"

[models.demo]
backend = "llamacpp"
source = "$model"
aliases = ["tiny"]
EOF
"$work/ullmd/ullmd" --config "$config" --check

log "starting ullmd with $config"
wait_until_ready() {
  local deadline=$((SECONDS + 60))
  until [[ -S /run/unified-llm/openai.sock ]] && curl --silent --fail --unix-socket /run/unified-llm/openai.sock http://localhost/ready >/dev/null; do
    ((SECONDS < deadline)) || die "ullmd did not become ready within 60 s"
    kill -0 "$ullmd_pid" 2>/dev/null || die "ullmd exited (see its log above)"
    sleep 0.2
  done
}
"$work/ullmd/ullmd" --config "$config" &
ullmd_pid=$!
trap 'kill -TERM "$ullmd_pid" 2>/dev/null; wait "$ullmd_pid" 2>/dev/null || true' EXIT
wait_until_ready

log "POST /v1/chat/completions (model demo, streamed)"
curl --silent --show-error --fail-with-body --no-buffer --unix-socket /run/unified-llm/openai.sock http://localhost/v1/chat/completions \
  -H 'content-type: application/json' \
  -d '{"model":"demo","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"Say hello"}]}'
echo

"$work/ullmctl/ullmctl" status
log "ullmd is serving on /run/unified-llm/openai.sock and 127.0.0.1:9000; Ctrl-C stops it"
wait "$ullmd_pid"

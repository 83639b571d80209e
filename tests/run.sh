#!/usr/bin/env bash
# Runs every test of unified-llm, the integration tests included (a real systemd in a container, a real dbus-daemon,
# a real llama-server, real SQLite and sockets).
#
# As root on Debian/Ubuntu it first installs what those tests need with apt-get (only what is missing), and builds the
# pinned llama-server once into ~/.cache/unified-llm (about 5 minutes on 2 cores; later runs reuse it).
# The last line is the summary: "tests: N passed, N failed, N skipped (of N)"; the exit status is non-zero on any failure.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "the integration tests boot a systemd container and switch users: run as root (sudo $0)"
command -v dotnet >/dev/null 2>&1 || die "dotnet is not on PATH: install the .NET 10 SDK"

# command -> Debian package that provides it
declare -A package_of=(
  [dbus-daemon]=dbus
  [/lib/systemd/systemd]=systemd
  [nix-instantiate]=nix-bin
  [jq]=jq
  # The TLS and doctor tests make certificates with openssl; the TLS tests use curl as a client.
  [openssl]=openssl
  [curl]=curl
  [tmux]=tmux
  [gcc]=gcc
  [unshare]=util-linux
  [setpriv]=util-linux
  [nsenter]=util-linux
  [systemd-analyze]=systemd
  # promtool checks and unit-tests the alert rules; prometheus scrapes a real ullmd for the dashboard's queries.
  [promtool]=prometheus
  [prometheus]=prometheus
  # The SDK tests drive the official openai npm client (tests/tools/openai-client).
  [node]=nodejs
  [npm]=npm
  # ullmd and ullmctl are published with Native AOT (here and in tests/nix/source-set-build.sh), which links with clang and zlib.
  [clang]=clang
  [/usr/include/zlib.h]=zlib1g-dev
)
missing=()
for tool in "${!package_of[@]}"; do
  if [[ "$tool" == /* ]]; then [[ -e "$tool" ]] && continue; else command -v "$tool" >/dev/null 2>&1 && continue; fi
  missing+=("${package_of[$tool]}")
done
if ((${#missing[@]} > 0)); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get could not install ${missing[*]}"
fi

ULLM_LLAMA_SERVER="$(bash tests/tools/llama-server.sh)" || die "no llama-server (see above)"
export ULLM_LLAMA_SERVER
log "llama-server: $ULLM_LLAMA_SERVER"

log "installing the openai npm client the SDK tests drive"
npm ci --prefix tests/tools/openai-client --no-audit --no-fund --loglevel=error >&2 || die "npm ci in tests/tools/openai-client failed"

log "checking nix/deps.json against the lock files"
bash nix/check-deps.sh

output="$(mktemp "${TMPDIR:-/tmp}/ullm-tests.XXXXXX")"
native="$(mktemp -d "${TMPDIR:-/tmp}/ullm-native.XXXXXX")"
trap 'rm -rf "$output" "$native"' EXIT

# The tests that start ullmd run the native build README's quick start and the Nix package ship (Native AOT).
log "publishing ullmd with Native AOT"
dotnet publish daemon/Ullmd.csproj -c Release -o "$native" --verbosity quiet >&2 || die "the Native AOT publish of ullmd failed"
export ULLM_ULLMD="$native/ullmd"
set +e
# A hung test fails the run within 45 minutes (the suite takes about 10) instead of holding CI to its limit.
dotnet test --solution unified-llm.sln --timeout 45m 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e

# The summary from the runner's "Test run summary" block.
count() { sed -n "s/^[[:space:]]*$1: \([0-9][0-9]*\)\r\{0,1\}$/\1/p" "$output" | tail -1; }
total="$(count total)" passed="$(count succeeded)" failed="$(count failed)" skipped="$(count skipped)"
printf 'tests: %d passed, %d failed, %d skipped (of %d)\n' "${passed:-0}" "${failed:-0}" "${skipped:-0}" "${total:-0}"
if ((status != 0)) || ((${total:-0} == 0)); then
  exit $((status != 0 ? status : 1))
fi

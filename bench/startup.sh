#!/usr/bin/env bash
# One command: publishes ullmctl three ways (JIT as a framework-dependent app, ReadyToRun + trimmed self-contained,
# Native AOT) and ullmd three ways (Native AOT as shipped, the JIT as a framework-dependent app, and ReadyToRun), then measures side by side in one run
# (bench/startup.py): ullmctl's wall time per command against a live ullmd; ullmd's exec→READY=1 and exec→first
# answer with an empty database, its idle RSS, and the p99 of the first seconds of traffic against the warm p99, under
# several GC and JIT settings, and where each start went (ullmd's own "Ready" log line, per phase in CPU and wall time).
# Prints a markdown section for bench/RESULTS.md. For the start alone, run bench/startup.py with --no-traffic and only
# --ullmd builds.
# usage: bash bench/startup.sh [ullmctl rounds, default 15] [ullmd starts per variant, default 3] [build directory]
# A build directory given is kept, and the builds already in it are reused (a rerun measures without publishing again).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
rounds="${1:-15}"
daemon_rounds="${2:-3}"
if [[ -n "${3:-}" ]]; then
  out="$(mkdir -p "$3" && cd "$3" && pwd)"
else
  out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-startup-build.XXXXXX")"
  remove_out=1
fi

# publish NAME PROJECT FLAGS...: into $out/NAME, unless a kept build directory has it already.
publish() {
  local name="$1" project="$2"
  shift 2
  [[ -x "$out/$name/$(basename "${project%.csproj}" | tr '[:upper:]' '[:lower:]')" ]] && return
  dotnet publish "$project" -c Release --verbosity quiet -o "$out/$name" "$@" >&2
}
# A publish for a runtime adds that runtime's section to the projects' lock files: the bench puts them back as they
# were when it exits, whatever happened.
locks=(daemon/packages.lock.json protos/packages.lock.json ctl/packages.lock.json)
saved="$(mktemp -d "${TMPDIR:-/tmp}/ullm-startup-locks.XXXXXX")"
for lock in "${locks[@]}"; do cp "$lock" "$saved/${lock//\//_}"; done
finish() {
  for lock in "${locks[@]}"; do cp "$saved/${lock//\//_}" "$lock"; done
  rm -rf "$saved"
  [[ -z "${remove_out:-}" ]] || rm -rf "$out"
}
trap finish EXIT
publish ctl-jit ctl/Ullmctl.csproj -p:PublishAot=false
publish ctl-r2r ctl/Ullmctl.csproj -p:PublishAot=false -r linux-x64 --self-contained -p:PublishReadyToRun=true -p:PublishTrimmed=true
publish ctl-aot ctl/Ullmctl.csproj
publish ullmd daemon/Ullmd.csproj
publish ullmd-jit daemon/Ullmd.csproj -p:PublishAot=false
publish ullmd-r2r daemon/Ullmd.csproj -p:PublishAot=false -r linux-x64 --self-contained false -p:PublishReadyToRun=true

echo "## Startup, ullmctl and idle memory (issue #17)"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other" \
  "builds and tests (load average at start: $(cut -d' ' -f1-3 /proc/loadavg)). Command: \`bash bench/startup.sh $rounds $daemon_rounds\`."
echo
python3 bench/startup.py --rounds "$rounds" --daemon-rounds "$daemon_rounds" \
  --ctl "jit=$out/ctl-jit/ullmctl" --ctl "r2r+trim=$out/ctl-r2r/ullmctl" --ctl "aot=$out/ctl-aot/ullmctl" \
  --ullmd "Native AOT (shipped)=$out/ullmd/ullmd|" \
  --ullmd "Native AOT, workstation GC=$out/ullmd/ullmd|DOTNET_gcServer=0" \
  --ullmd "Native AOT, workstation, conserve=$out/ullmd/ullmd|DOTNET_gcServer=0,DOTNET_GCConserveMemory=7" \
  --ullmd "JIT=$out/ullmd-jit/ullmd|" \
  --ullmd "JIT, workstation, W^X off=$out/ullmd-jit/ullmd|DOTNET_gcServer=0,DOTNET_EnableWriteXorExecute=0" \
  --ullmd "ReadyToRun, workstation, W^X off=$out/ullmd-r2r/ullmd|DOTNET_gcServer=0,DOTNET_EnableWriteXorExecute=0"

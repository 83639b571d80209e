#!/usr/bin/env bash
# One command: publishes ullmd with Native AOT (as it ships), builds the benchmark (Release), gets llama-server and the tiny model, and measures a cold load
# through ullmd against llama-server started directly, plus swap time, in one run. Writes the "cold-load" section of
# bench/RESULTS.md.
# usage: bash bench/cold-load.sh [runs, default 40] [--also PATH/ullmd: another build (say the base's Native AOT publish,
#        kept in /tmp) loaded in turn with this one in the same run]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
runs="${1:-40}"
shift $(( $# > 0 ? 1 : 0 ))
out="$(mktemp -d "${TMPDIR:-/tmp}/ullm-coldload-build.XXXXXX")"
# A publish for a runtime adds that runtime's section to the projects' lock files: put back as they were on exit.
locks=(daemon/packages.lock.json protos/packages.lock.json)
for lock in "${locks[@]}"; do cp "$lock" "$out/${lock//\//_}"; done
finish() {
  for lock in "${locks[@]}"; do cp "$out/${lock//\//_}" "$lock"; done
  rm -rf "$out"
}
trap finish EXIT

llama_server="$(bash tests/tools/llama-server.sh)"
dotnet publish daemon/Ullmd.csproj -c Release --verbosity quiet -o "$out/ullmd" >&2
dotnet build -c Release -o "$out/bench" bench/ColdLoad/ColdLoad.csproj >&2
dotnet run -c Release --project tests/tools/MakeTinyModel -- "$out/tiny.gguf" >&2
dotnet "$out/bench/ColdLoad.dll" --ullmd "$out/ullmd/ullmd" --llama-server "$llama_server" \
  --model "$out/tiny.gguf" --out bench/RESULTS.md --runs "$runs" "$@"

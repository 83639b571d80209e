#!/usr/bin/env bash
# Builds ullmd and ullmctl from exactly the source set nix/package.nix gives buildDotnetModule: the
# `src` of package.nix itself is evaluated with nix-instantiate (its filter uses builtins only, so no
# nixpkgs is needed; every other argument of the package is a throw, so it cannot be read), the
# store path it yields is copied to an empty directory, and there the Release build of both
# projects runs after a locked-mode restore (the lock files, as nix/deps.json pins them).
# A file the build needs but the filter leaves out fails this script with the compiler's errors.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf 'source-set-build.sh: %s\n' "$*"; }
command -v nix-instantiate >/dev/null 2>&1 || { log "FAIL: nix-instantiate is missing (Debian: apt-get install nix-bin)"; exit 1; }
command -v dotnet >/dev/null 2>&1 || { log "FAIL: dotnet is missing"; exit 1; }

# --read-write-mode: evaluating `src` adds the filtered tree to the store, as a Nix build would.
source_path="$(nix-instantiate --read-write-mode --eval --json --expr '
  let
    unused = name: throw "nix/package.nix: ${name} was read while evaluating src";
    package = import '"$repo_root"'/nix/package.nix {
      lib = unused "lib";
      stdenv = unused "stdenv";
      dotnetCorePackages = unused "dotnetCorePackages";
      installShellFiles = unused "installShellFiles";
      clang = unused "clang";
      zlib = unused "zlib";
      buildDotnetModule = arguments: arguments;
    };
  in
  "${package.src}"' 2> >(grep -v "build-users-group" >&2) | tr -d '"')"
[[ -d "$source_path" ]] || { log "FAIL: nix/package.nix's src evaluated to '$source_path', not a directory"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/ullm-source-set.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r --no-preserve=mode "$source_path/." "$work/"
admitted="$(cd "$work" && find . -type f | wc -l)"
log "nix/package.nix admits $admitted files: $(cd "$work" && ls -A | tr '\n' ' ')"

cd "$work"
for project in daemon/Ullmd.csproj ctl/Ullmctl.csproj; do
  log "dotnet restore --locked-mode $project"
  dotnet restore --locked-mode "$project" >"$work.restore.log" 2>&1 || { cat "$work.restore.log"; rm -f "$work.restore.log"; log "FAIL: restore of $project"; exit 1; }
  log "dotnet build -c Release $project"
  if ! dotnet build -c Release --no-restore -p:ContinuousIntegrationBuild=true -p:Deterministic=true "$project" >"$work.build.log" 2>&1; then
    grep -E 'error|Error' "$work.build.log" | sort -u | head -60
    rm -f "$work.restore.log" "$work.build.log"
    log "FAIL: the Release build of $project from the source set of nix/package.nix failed (a file it reads is not admitted?)"
    exit 1
  fi
done
rm -f "$work.restore.log" "$work.build.log"
[[ -f daemon/bin/Release/net10.0/ullmd.dll && -f ctl/bin/Release/net10.0/ullmctl.dll ]] ||
  { log "FAIL: the builds succeeded but ullmd.dll or ullmctl.dll is missing"; exit 1; }
log "passed: Release build of daemon/Ullmd.csproj and ctl/Ullmctl.csproj from the $admitted files nix/package.nix admits"

# ullmctl's publish as buildDotnetModule runs it (self-contained, for the machine's runtime id, build then publish
# --no-build): it must give the kind ctl/Ullmctl.csproj chooses, a native executable (Native AOT) with no managed
# ullmctl.dll beside it, that starts, reports an unreachable daemon as JSON and lists its MCP tools (found by
# reflection over AdminTools, which the native build has to keep).
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) log "FAIL: no .NET runtime id known for $(uname -m)"; exit 1 ;;
esac
flags=(-c Release --runtime "$rid" -p:SelfContained=true -p:ContinuousIntegrationBuild=true -p:Deterministic=true)

# publish_native PROJECT OUTDIR PROGRAM: publishes PROJECT to OUTDIR as buildDotnetModule does and checks that OUTDIR/PROGRAM
# is a native executable with no managed PROGRAM.dll beside it (Native AOT); exits the script on failure.
publish_native() {
  local project="$1" out="$2" program="$3"
  log "dotnet publish $project --runtime $rid --self-contained (as buildDotnetModule does)"
  # Not --locked-mode: a restore for a runtime id applies it to protos/ too, whose lock file has no runtime section
  # (the locked restore above checked the lock files; buildDotnetModule's restore is not locked either).
  if ! { dotnet restore "$project" --runtime "$rid" -p:SelfContained=true &&
    dotnet build --no-restore "${flags[@]}" "$project" &&
    dotnet publish --no-restore --no-build "${flags[@]}" --self-contained -o "$out" "$project"; } >"$work.publish.log" 2>&1; then
    grep -E 'error|Error' "$work.publish.log" | sort -u | head -60
    rm -f "$work.publish.log"
    log "FAIL: publishing $project as buildDotnetModule does failed (errors above; Native AOT also needs clang and zlib1g-dev)"
    exit 1
  fi
  rm -f "$work.publish.log"
  [[ -x "$out/$program" && "$(head -c 4 "$out/$program" | od -An -c | tr -d ' ')" == '177ELF' ]] ||
    { log "FAIL: $out/$program is not a native ELF executable"; exit 1; }
  [[ ! -e "$out/$program.dll" ]] || { log "FAIL: the publish left a managed $program.dll beside $program (not Native AOT)"; exit 1; }
}

publish_native ctl/Ullmctl.csproj "$work/publish" ullmctl
ctl="$work/publish/ullmctl"
"$ctl" --help | grep -q "administer ullmd" || { log "FAIL: the native ullmctl --help did not print its usage"; exit 1; }
set +e
answer="$("$ctl" --json status --socket "$work/no-daemon.sock" 2>/dev/null)"
status=$?
set -e
[[ $status -eq 3 && "$(jq -r .error.code <<<"$answer")" == UNAVAILABLE ]] ||
  { log "FAIL: the native ullmctl status without a daemon exited $status with '$answer' (expected 3 and a JSON UNAVAILABLE error)"; exit 1; }
coproc mcp { timeout 60 "$ctl" mcp --socket "$work/no-daemon.sock"; }
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"source-set-build","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' >&"${mcp[1]}"
tools=""
while IFS= read -r -t 60 line <&"${mcp[0]}"; do
  if [[ "$(jq -r .id <<<"$line")" == 2 ]]; then
    tools="$(jq -r '.result.tools[].name' <<<"$line" | sort | tr '\n' ' ')"
    break
  fi
done
eval "exec ${mcp[1]}>&-"
wait "$mcp_PID" || true
declared="$(grep -o 'McpServerTool(Name = "[a-z_]*"' ctl/Mcp/AdminTools.cs | cut -d'"' -f2 | sort | tr '\n' ' ')"
[[ -n "$declared" && "$tools" == "$declared" ]] ||
  { log "FAIL: the native ullmctl mcp listed tools '$tools', ctl/Mcp/AdminTools.cs declares '$declared'"; exit 1; }
log "passed: ullmctl published as buildDotnetModule does is a native executable ($(du -h "$ctl" | cut -f1)); status --json and mcp tools/list ($(wc -w <<<"$tools") tools) work"

# ullmd's publish, the same way: a native executable with no managed ullmd.dll beside it, that checks a config (the
# TOML read through its source-generated context) and runs its offline doctor (JSON through source-generated contexts).
publish_native daemon/Ullmd.csproj "$work/publish-ullmd" ullmd
ullmd="$work/publish-ullmd/ullmd"
printf '[server]\ndata_dir = "%s"\n' "$work/data" >"$work/ullmd.toml"
"$ullmd" --config "$work/ullmd.toml" --check | grep -q "OK" || { log "FAIL: the native ullmd --check did not accept a minimal config"; exit 1; }
printf '[server]\ndata_dir = "%s"\nbogus = 1\n' "$work/data" >"$work/bad.toml"
set +e
checked="$("$ullmd" --config "$work/bad.toml" --check 2>&1)"
status=$?
set -e
[[ $status -ne 0 && "$checked" == *"bad.toml:3"* && "$checked" == *bogus* ]] ||
  { log "FAIL: the native ullmd --check of a config with an unknown key exited $status with '$checked' (expected the file:line and the key)"; exit 1; }
set +e
report="$("$ullmd" --doctor --json --config "$work/ullmd.toml")"
status=$?
set -e
# It exits by its worst finding (here the data_dir it would create is missing): 0, 1 or 2, with the report either way.
[[ $status -le 2 ]] && jq -e '.findings | length > 0' >/dev/null <<<"$report" ||
  { log "FAIL: the native ullmd --doctor --json exited $status and printed no findings: '$report'"; exit 1; }
log "passed: ullmd published as buildDotnetModule does is a native executable ($(du -h "$ullmd" | cut -f1)); --check and --doctor --json work"

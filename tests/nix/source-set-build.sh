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

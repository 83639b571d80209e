#!/usr/bin/env bash
# Regenerates nix/deps.json, the NuGet packages that nix/package.nix (buildDotnetModule) may fetch:
# every package of every packages.lock.json in the repository, transitive ones included, each as
# {pname, version, hash} with the SRI sha256 of the .nupkg from the local NuGet cache.
#
# Usage: nix/update-deps.sh [--locked | --no-restore] [--output FILE]
#   --locked      restore with --locked-mode: fail instead of rewriting stale packages.lock.json files
#   --no-restore  use the lock files and the NuGet cache as they are (after a restore that just ran)
#   --output      write there instead of nix/deps.json
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output="$repo_root/nix/deps.json"
restore_mode=()
restore=true

while (($# > 0)); do
  case "$1" in
    --locked) restore_mode=(--locked-mode); shift ;;
    --no-restore) restore=false; shift ;;
    --output) output="${2:?--output needs a file name}"; shift 2 ;;
    *) echo "update-deps.sh: unknown argument '$1' (expected --locked, --no-restore or --output FILE)" >&2; exit 2 ;;
  esac
done

nuget_root="${NUGET_PACKAGES:-$HOME/.nuget/packages}"

# Restoring fills the NuGet cache with every locked package and keeps the lock files current.
if $restore; then
  dotnet restore "$repo_root/unified-llm.sln" "${restore_mode[@]}" --verbosity quiet >&2 || {
    echo "update-deps.sh: dotnet restore ${restore_mode[*]} failed; if a packages.lock.json is stale, run 'dotnet restore' and commit the lock files" >&2
    exit 1
  }
fi

mapfile -t lock_files < <(find "$repo_root" -name packages.lock.json \
  -not -path '*/bin/*' -not -path '*/obj/*' -not -path '*/.git/*' | sort)
((${#lock_files[@]} > 0)) || { echo "update-deps.sh: no packages.lock.json under $repo_root (is RestorePackagesWithLockFile on?)" >&2; exit 1; }

# One line per package: id, resolved version, NuGet content hash.
# Project references carry no version and are built from source, so they are left out.
packages="$(jq -r '.dependencies[] | to_entries[] | select(.value.type != "Project")
  | [.key, .value.resolved, .value.contentHash] | @tsv' "${lock_files[@]}" | sort -u -f)"

entries=()
while IFS=$'\t' read -r id version content_hash; do
  id_lower="${id,,}"
  version_lower="${version,,}"
  nupkg="$nuget_root/$id_lower/$version_lower/$id_lower.$version_lower.nupkg"
  [[ -f "$nupkg" ]] || { echo "update-deps.sh: $id $version is locked but $nupkg is missing after restore" >&2; exit 1; }
  # The lock file's contentHash is NuGet's hash of the package content, recorded in .nupkg.metadata;
  # the .sha512 file next to the .nupkg is the hash of the file itself.
  [[ "$(jq -r .contentHash "$nuget_root/$id_lower/$version_lower/.nupkg.metadata")" == "$content_hash" &&
    "$(openssl dgst -sha512 -binary "$nupkg" | base64 -w0)" == "$(cat "$nupkg.sha512")" ]] || {
    echo "update-deps.sh: $nupkg does not match the contentHash locked for $id $version (corrupt cache? delete that folder and rerun)" >&2
    exit 1
  }
  sri="sha256-$(openssl dgst -sha256 -binary "$nupkg" | base64 -w0)"
  entries+=("$(jq -n --arg pname "$id" --arg version "$version" --arg hash "$sri" '{pname: $pname, version: $version, hash: $hash}')")
done <<<"$packages"

mkdir -p "$(dirname "$output")"
printf '%s\n' "${entries[@]}" | jq -s 'sort_by((.pname | ascii_downcase), .version)' >"$output.tmp"
mv -f "$output.tmp" "$output"
echo "update-deps.sh: wrote ${#entries[@]} packages from ${#lock_files[@]} lock files to $output" >&2

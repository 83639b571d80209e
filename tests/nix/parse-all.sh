#!/usr/bin/env bash
# Parses every .nix file of the repository with nix-instantiate --parse (any Nix, Debian's 2.8
# included): a syntax error fails with its file:line:column.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v nix-instantiate >/dev/null 2>&1 ||
  { echo "parse-all.sh: FAIL: nix-instantiate is missing (Debian: apt-get install nix-bin)"; exit 1; }

mapfile -t files < <(cd "$repo_root" && git ls-files --cached --others --exclude-standard -- '*.nix' | sort)
((${#files[@]} > 0)) || { echo "parse-all.sh: FAIL: no .nix files found under $repo_root"; exit 1; }

failures=0
for file in "${files[@]}"; do
  if ! nix-instantiate --parse "$repo_root/$file" >/dev/null; then
    failures=$((failures + 1))
  fi
done
if ((failures > 0)); then
  echo "parse-all.sh: $failures of ${#files[@]} .nix files do not parse"
  exit 1
fi
echo "parse-all.sh: all ${#files[@]} .nix files parse"

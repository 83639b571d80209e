#!/usr/bin/env bash
# CI check: nix/deps.json must list exactly the packages locked by the packages.lock.json files.
# Usage: nix/check-deps.sh [--no-restore]  (--no-restore: right after a restore, e.g. from the test suite)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT

case "${1:-}" in
  "") mode=--locked ;;
  --no-restore) mode=--no-restore ;;
  *) echo "check-deps.sh: unknown argument '$1' (expected --no-restore)" >&2; exit 2 ;;
esac

"$repo_root/nix/update-deps.sh" "$mode" --output "$fresh"

if ! diff -u "$repo_root/nix/deps.json" "$fresh" >&2; then
  echo "check-deps.sh: nix/deps.json is out of date with the packages.lock.json files; regenerate it with: nix/update-deps.sh" >&2
  exit 1
fi
echo "check-deps.sh: nix/deps.json matches the lock files" >&2

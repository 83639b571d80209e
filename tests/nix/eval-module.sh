#!/usr/bin/env bash
# Evaluates nix/module.nix with nixpkgs' lib.evalModules (tests/nix/eval.nix) and fails on any
# failed check. Needs nix-instantiate and nixpkgs' lib: $NIXPKGS_LIB (the lib/ directory of a
# nixpkgs or nixpkgs.lib checkout), else <nixpkgs/lib> from NIX_PATH. Without them it says so
# and exits 0: nixpkgs is not part of this repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v nix-instantiate >/dev/null 2>&1; then
    echo "eval-module.sh: NOT RUN: nix-instantiate is missing (Debian: apt-get install nix-bin)"
    exit 0
fi

lib_dir="${NIXPKGS_LIB:-}"
if [[ -z "$lib_dir" ]]; then
    lib_dir="$(nix-instantiate --eval --expr '<nixpkgs/lib>' 2>/dev/null || true)"
fi
if [[ -z "$lib_dir" || ! -f "$lib_dir/default.nix" ]]; then
    echo "eval-module.sh: NOT RUN: nixpkgs lib not found; set NIXPKGS_LIB to the lib/ directory of a nixpkgs (or nixpkgs.lib) checkout, or put nixpkgs on NIX_PATH"
    exit 0
fi

result="$(nix-instantiate --eval --strict --json "$here/eval.nix" --arg nixpkgsLib "$lib_dir")"
count="$(jq -r .count <<<"$result")"
failed="$(jq -r '.failures | length' <<<"$result")"

if ((failed > 0)); then
    jq -r '.failures[] | "FAIL \(.name)\n  expected: \(.expected | tojson)\n  actual:   \(.result | tojson)"' <<<"$result"
    echo "eval-module.sh: $failed of $count checks failed (nixpkgs lib: $lib_dir)"
    exit 1
fi
echo "eval-module.sh: all $count checks passed (nixpkgs lib: $lib_dir)"

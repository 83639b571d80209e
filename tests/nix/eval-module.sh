#!/usr/bin/env bash
# Evaluates nix/module.nix with nixpkgs' lib.evalModules (tests/nix/eval.nix), flake.nix's
# outputs with a stub nixpkgs input (tests/nix/eval-flake.nix), and runs `nix flake check
# --no-build` with that stub input (tests/nix/stub-nixpkgs); fails on any failed check.
# Needs nix-instantiate and nixpkgs' lib: $NIXPKGS_LIB (the lib/ directory of a
# nixpkgs or nixpkgs.lib checkout), else <nixpkgs/lib> from NIX_PATH. Without them it says so
# and exits 0: nixpkgs is not part of this repository.
#
# --update-golden rewrites tests/nix/golden/*.toml (the module's renderings of eval.nix's sample
# and minimal hosts, which the C# tests load with ullmd's config loader) instead of testing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
update_golden=false
case "${1:-}" in
  "") ;;
  --update-golden) update_golden=true ;;
  *) echo "eval-module.sh: unknown argument '$1' (expected --update-golden)"; exit 2 ;;
esac

if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "eval-module.sh: NOT RUN: nix-instantiate is missing (Debian: apt-get install nix-bin)"
  exit 0
fi

lib_dir="${NIXPKGS_LIB:-}"
if [[ -z "$lib_dir" ]]; then
  lib_dir="$(nix-instantiate --eval --expr '<nixpkgs/lib>' 2>/dev/null || true)"
fi
if [[ -z "$lib_dir" || ! -f "$lib_dir/default.nix" ]]; then
  echo "eval-module.sh: NOT RUN: nixpkgs lib not found. To run it: check out nixpkgs.lib (github:nix-community/nixpkgs.lib) or nixpkgs, then NIXPKGS_LIB=/path/to/checkout/lib bash tests/nix/eval-module.sh (or put nixpkgs on NIX_PATH)"
  exit 0
fi

if $update_golden; then
  for host in sample minimal; do
    nix-instantiate --eval --strict --json "$here/eval.nix" --arg nixpkgsLib "$lib_dir" -A "golden.$host" |
      jq -j . >"$here/golden/$host.toml"
    echo "eval-module.sh: wrote tests/nix/golden/$host.toml"
  done
  exit 0
fi

total=0
failed_total=0
for suite in eval.nix eval-flake.nix; do
  # --read-write-mode: eval-flake.nix reads the package source, which has to be added to the store.
  result="$(nix-instantiate --read-write-mode --eval --strict --json "$here/$suite" --arg nixpkgsLib "$lib_dir")"
  count="$(jq -r .count <<<"$result")"
  failed="$(jq -r '.failures | length' <<<"$result")"
  total=$((total + count))
  failed_total=$((failed_total + failed))
  # For attribute sets, only the attributes that differ.
  jq -r --arg suite "$suite" '.failures[] | "FAIL \($suite): \(.name)",
    (if (.expected | type) == "object" and (.result | type) == "object" then
      . as $f | ($f.expected + $f.result | keys[]) as $key
      | select($f.expected[$key] != $f.result[$key])
      | "  \($key): expected \($f.expected[$key] | tojson), actual \($f.result[$key] | tojson)"
    else
      "  expected: \(.expected | tojson)\n  actual:   \(.result | tojson)"
    end)' <<<"$result"
  echo "eval-module.sh: $suite: $((count - failed)) of $count checks passed"
done

# The NixOS VM test needs KVM and all of nixpkgs; here its Python test script is at least compiled.
total=$((total + 1))
if command -v python3 >/dev/null 2>&1; then
  if report="$(nix-instantiate --read-write-mode --eval --strict --json "$here/eval-flake.nix" --arg nixpkgsLib "$lib_dir" -A vmTestScript 2>/dev/null |
    jq -r . | python3 -c 'import sys; compile(sys.stdin.read(), "nix/tests/vm.nix testScript", "exec")' 2>&1)"; then
    echo "eval-module.sh: nix/tests/vm.nix: testScript compiles with python3 (the VM test itself needs KVM and nixpkgs: nix flake check on NixOS)"
  else
    failed_total=$((failed_total + 1))
    echo "FAIL nix/tests/vm.nix testScript does not compile:"
    echo "$report"
  fi
else
  failed_total=$((failed_total + 1))
  echo "FAIL nix/tests/vm.nix testScript: python3 is missing"
fi

# The flake through Nix's own checks (output schema, modules, overlays), with the stub nixpkgs input.
# Nix sees the files git tracks: stage new files first.
stub_nixpkgs="$(mktemp -d)"
trap 'rm -rf "$stub_nixpkgs"' EXIT
cp -r "$lib_dir" "$stub_nixpkgs/lib"
cp "$here/stubs.nix" "$here/toml.nix" "$here/stub-nixpkgs/flake.nix" "$stub_nixpkgs/"
total=$((total + 1))
if report="$(nix --extra-experimental-features 'nix-command flakes' --option substituters '' \
  flake check --no-build --no-write-lock-file --override-input nixpkgs "path:$stub_nixpkgs" "$here/../.." 2>&1)"; then
  echo "eval-module.sh: nix flake check --no-build: passed"
else
  failed_total=$((failed_total + 1))
  echo "FAIL nix flake check --no-build (stub nixpkgs input):"
  echo "$report"
fi

if ((failed_total > 0)); then
  echo "eval-module.sh: $failed_total of $total checks failed (nixpkgs lib: $lib_dir)"
  exit 1
fi
echo "eval-module.sh: all $total checks passed (nixpkgs lib: $lib_dir)"

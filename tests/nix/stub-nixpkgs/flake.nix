# Stand-in for flake.nix's nixpkgs input, for `nix flake check --no-build` where nixpkgs cannot be
# fetched: nixpkgs' lib and the stub packages of stubs.nix, which tests/nix/eval-module.sh copies
# next to this file.
{
  outputs =
    { self }:
    let
      lib = import ./lib;
      stubs = import ./stubs.nix { inherit lib; };
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ] stubs.flakePackages;
    };
}

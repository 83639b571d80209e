{
  description = "unified-llm: ullmd serves local and cloud LLMs behind one OpenAI-compatible API; ullmctl administers it";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        unified-llm = final.callPackage ./nix/package.nix { };
        ullmctl = final.callPackage ./nix/package.nix { component = "ullmctl"; };
      };

      packages = forAllSystems (pkgs: rec {
        default = ullmd;
        ullmd = pkgs.callPackage ./nix/package.nix { };
        ullmctl = pkgs.callPackage ./nix/package.nix { component = "ullmctl"; };
      });

      # The module plus this flake's package as its default, so no overlay is needed.
      nixosModules.default =
        { pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.unified-llm.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.dotnetCorePackages.sdk_10_0
            pkgs.protobuf
            pkgs.sqlite
            pkgs.jq
          ];
          DOTNET_CLI_TELEMETRY_OPTOUT = "1";
        };
      });

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        vm = pkgs.testers.runNixOSTest (import ./nix/tests/vm.nix { inherit self; });
      });
    };
}

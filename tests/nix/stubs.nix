# Stand-ins for the parts of nixpkgs and NixOS that nix/module.nix and flake.nix use, for evaluating
# them with nixpkgs' lib alone (tests/nix/eval-module.sh).
{ lib }:

let
  inherit (lib) mkOption types;

  toml = import ./toml.nix { inherit lib; };

  fakeStorePath = name: "/nix/store/00000000000000000000000000000000-${name}";

  # A package as callPackage makes it: overridable, its store path naming the GPU switches it got.
  stubDerivation = name: arguments: {
    type = "derivation";
    inherit name;
    outPath = fakeStorePath (
      name
      + lib.concatStrings (
        lib.mapAttrsToList (
          key: value: lib.optionalString (value != false && value != null) "-${key}=${toString value}"
        ) arguments
      )
    );
  };
  noSwitches = name: lib.makeOverridable ({ }: stubDerivation name { }) { };

  # The switches nixpkgs' real packages declare: llama-cpp and vllm take cudaSupport/rocmSupport,
  # ollama takes acceleration.
  gpuSwitches =
    name:
    lib.makeOverridable (
      {
        cudaSupport ? false,
        rocmSupport ? false,
      }@arguments:
      stubDerivation name arguments
    ) { };
  accelerationSwitch =
    name: lib.makeOverridable ({ acceleration ? null }@arguments: stubDerivation name arguments) { };

  pkgs = {
    formats.toml = { }: toml;
    runCommand =
      name: environment: script:
      recordingDerivation name { } // { inherit environment script; };
    coreutils = noSwitches "coreutils";
    unified-llm = noSwitches "unified-llm";
    llama-cpp = gpuSwitches "llama-cpp";
    ollama = accelerationSwitch "ollama";
    vllm = gpuSwitches "vllm";
  };

  # The NixOS options module.nix defines values for, declared loosely: NixOS itself checks them.
  nixosModule = {
    options = {
      assertions = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      users.groups = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      environment.etc = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      systemd.services = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      systemd.slices = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };
  };

  # A derivation as far as evaluation goes (nix flake check --no-build included), recording the
  # arguments it was made from.
  recordingDerivation = name: arguments: {
    type = "derivation";
    inherit name arguments;
    outPath = fakeStorePath name;
    drvPath = fakeStorePath "${name}.drv";
  };

  # pkgs for one system as flake.nix and nix/package.nix use it: the module's stubs plus the
  # builders, each recording what it was called with.
  flakePackages =
    system:
    let
      all = pkgs // {
        inherit lib;
        stdenv.hostPlatform.system = system;
        callPackage = lib.callPackageWith all;
        buildDotnetModule =
          arguments:
          recordingDerivation "${arguments.pname}-${arguments.version}" arguments
          // {
            dotnetArguments = arguments;
            inherit (arguments) meta;
          };
        dotnetCorePackages = {
          sdk_10_0 = noSwitches "dotnet-sdk-10";
          aspnetcore_10_0 = noSwitches "aspnetcore-runtime-10";
          runtime_10_0 = noSwitches "dotnet-runtime-10";
        };
        mkShell = recordingDerivation "dev-shell";
        testers.runNixOSTest = recordingDerivation "nixos-test";
        python3.withPackages =
          select:
          recordingDerivation "python3-env" { }
          // {
            pythonPackages = select {
              gguf = "gguf";
              numpy = "numpy";
            };
          };
        protobuf = noSwitches "protobuf";
        sqlite = noSwitches "sqlite";
        jq = noSwitches "jq";
        curl = noSwitches "curl";
      };
    in
    all;
in
{
  inherit
    fakeStorePath
    noSwitches
    pkgs
    nixosModule
    flakePackages
    ;
}

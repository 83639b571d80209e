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
    # Its store path depends on the script (and so on the files it names), as a real one does.
    runCommandLocal =
      name: environment: script:
      recordingDerivation name { }
      // {
        inherit environment script;
        outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" script)}-${name}";
      };
    runCommand =
      name: environment: script:
      recordingDerivation name { } // { inherit environment script; };
    stdenv = nativeStdenv "x86_64-linux";
    coreutils = noSwitches "coreutils";
    unified-llm = noSwitches "unified-llm";
    llama-cpp = gpuSwitches "llama-cpp";
    ollama = accelerationSwitch "ollama";
    vllm = gpuSwitches "vllm";
  };

  # NixOS's utils (nixos/lib/utils.nix) as far as module.nix uses it: an Exec* argument is quoted
  # as a JSON string, with % and $ doubled so systemd expands neither specifiers nor variables.
  utils = {
    escapeSystemdExecArgs = lib.concatMapStringsSep " " (
      argument: lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON (toString argument))
    );
  };

  # The NixOS options module.nix defines values for, declared loosely: NixOS itself checks them.
  nixosModule = {
    config._module.args.utils = utils;
    options = {
      meta.maintainers = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      systemd.tmpfiles.rules = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      services.prometheus.scrapeConfigs = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      services.prometheus.ruleFiles = mkOption {
        type = types.listOf types.path;
        default = [ ];
      };
      # As nixpkgs declares it: null unless someone provisions dashboards this way.
      services.grafana.provision.dashboards.settings = mkOption {
        type = types.nullOr (
          types.submodule {
            options.apiVersion = mkOption { default = 1; };
            options.providers = mkOption {
              type = types.listOf types.anything;
              default = [ ];
            };
          }
        );
        default = null;
      };
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
      networking.firewall.extraInputRules = mkOption {
        type = types.lines;
        default = "";
      };
      networking.firewall.extraCommands = mkOption {
        type = types.lines;
        default = "";
      };
      networking.nftables.enable = mkOption {
        type = types.bool;
        default = false;
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

  platform = system: {
    inherit system;
    canExecute = other: other.system == system;
  };
  nativeStdenv = system: {
    hostPlatform = platform system;
    buildPlatform = platform system;
  };
  # A stdenv building on buildSystem for system, as pkgsCross gives it.
  crossStdenv =
    buildSystem: system:
    nativeStdenv system
    // {
      buildPlatform = platform buildSystem;
    };

  # pkgs for one system as flake.nix and nix/package.nix use it: the module's stubs plus the
  # builders, each recording what it was called with.
  flakePackages =
    system:
    let
      all = pkgs // {
        inherit lib;
        # A native build: the build machine runs what it builds (crossFrom makes one that cannot).
        stdenv = nativeStdenv system;
        installShellFiles = noSwitches "install-shell-files";
        clang = noSwitches "clang";
        zlib = noSwitches "zlib";
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
    utils
    pkgs
    nixosModule
    flakePackages
    crossStdenv
    ;
}

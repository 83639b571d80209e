# Evaluates flake.nix's outputs with a stub nixpkgs input (real nixpkgs lib, the stub packages of
# stubs.nix): the output shape, the package arguments handed to buildDotnetModule, the source
# the build sees, nix/deps.json, and the VM test's machine evaluated through nixosModules.default.
# Run through tests/nix/eval-module.sh; the result is { count; failures; }.
{ nixpkgsLib }:

let
  lib = import nixpkgsLib;
  inherit (lib) mkOption types;
  stubs = import ./stubs.nix { inherit lib; };
  inherit (stubs) fakeStorePath noSwitches;

  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  packagesFor = stubs.flakePackages;

  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs systems packagesFor;
  };

  flake = (import ../../flake.nix).outputs {
    self = flake // {
      outPath = ../..;
    };
    inherit nixpkgs;
  };

  x86Packages = flake.packages.x86_64-linux;

  # The VM test's machine, evaluated with the options NixOS would give it; extraModules adds
  # a specialisation's configuration on top, as NixOS does with inheritParentConfig.
  vmMachineWith =
    extraModules:
    (lib.evalModules {
      modules = extraModules ++ [
        stubs.nixosModule
        {
          options.users.users = mkOption {
            type = types.attrsOf types.anything;
            default = { };
          };
          options.virtualisation = mkOption {
            type = types.attrsOf types.anything;
            default = { };
          };
          options.specialisation = mkOption {
            type = types.attrsOf (types.submodule { options.configuration = mkOption { type = types.deferredModule; }; });
            default = { };
          };
        }
        flake.checks.x86_64-linux.vm.arguments.nodes.machine
        { _module.args.pkgs = packagesFor "x86_64-linux"; }
      ];
    }).config;
  vmMachine = vmMachineWith [ ];
  vmSwitched = vmMachineWith [ vmMachine.specialisation.longer-ttl.configuration ];

  deps = builtins.fromJSON (builtins.readFile x86Packages.ullmd.dotnetArguments.nugetDeps);

  tests = {
    testOutputsHaveTheExpectedShape = {
      expr = {
        outputs = lib.attrNames flake;
        packages = lib.mapAttrs (_: lib.attrNames) flake.packages;
        checks = lib.mapAttrs (_: lib.attrNames) flake.checks;
        devShells = lib.mapAttrs (_: lib.attrNames) flake.devShells;
        nixosModules = lib.attrNames flake.nixosModules;
        overlays = lib.attrNames flake.overlays;
      };
      expected = {
        outputs = [
          "checks"
          "devShells"
          "nixosModules"
          "overlays"
          "packages"
        ];
        packages = lib.genAttrs systems (_: [
          "default"
          "ullmctl"
          "ullmd"
        ]);
        checks = lib.genAttrs systems (_: [
          "package"
          "vm"
        ]);
        devShells = lib.genAttrs systems (_: [ "default" ]);
        nixosModules = [ "default" ];
        overlays = [ "default" ];
      };
    };

    testUllmdPackageBuildsBothProjectsOnAspNetCore = {
      expr = {
        inherit (x86Packages.default.dotnetArguments) pname projectFile executables;
        runtime = x86Packages.default.dotnetArguments.dotnet-runtime.name;
        sdk = x86Packages.default.dotnetArguments.dotnet-sdk.name;
        mainProgram = x86Packages.default.dotnetArguments.meta.mainProgram;
        maintainers = map (m: m.name) x86Packages.default.dotnetArguments.meta.maintainers;
        sameAsUllmd = x86Packages.default.outPath == x86Packages.ullmd.outPath;
      };
      expected = {
        pname = "unified-llm";
        projectFile = [
          "daemon/Ullmd.csproj"
          "ctl/Ullmctl.csproj"
        ];
        executables = [
          "ullmd"
          "ullmctl"
        ];
        runtime = "aspnetcore-runtime-10";
        sdk = "dotnet-sdk-10";
        mainProgram = "ullmd";
        maintainers = [ "unified-llm maintainers" ];
        sameAsUllmd = true;
      };
    };

    testUllmctlPackageBuildsOnlyTheCliOnTheBaseRuntime = {
      expr = {
        inherit (x86Packages.ullmctl.dotnetArguments) pname projectFile executables;
        runtime = x86Packages.ullmctl.dotnetArguments.dotnet-runtime.name;
      };
      expected = {
        pname = "ullmctl";
        projectFile = "ctl/Ullmctl.csproj";
        executables = [ "ullmctl" ];
        runtime = "dotnet-runtime-10";
      };
    };

    testUnknownComponentIsRejected = {
      expr =
        (builtins.tryEval (
          (nixpkgs.legacyPackages.x86_64-linux.callPackage ../../nix/package.nix { component = "ullm"; }).dotnetArguments.projectFile
        )).success;
      expected = false;
    };

    testBuildSeesOnlyWhatItReads = {
      expr = lib.attrNames (builtins.readDir x86Packages.ullmd.dotnetArguments.src);
      expected = [
        ".editorconfig"
        "Directory.Build.props"
        "Directory.Packages.props"
        "ctl"
        "daemon"
        "global.json"
        "protos"
      ];
    };

    # buildDotnetModule writes $out/bin/ullmctl in its fixup phase (dotnetFixupHook), after postInstall.
    testCompletionsAreGeneratedAfterTheWrappersExist = {
      expr = {
        postInstall = x86Packages.ullmd.dotnetArguments ? postInstall;
        fixup = map (shell: lib.hasInfix "--${shell} <($out/bin/ullmctl completion ${shell})" x86Packages.ullmd.dotnetArguments.postFixup) [
          "bash"
          "zsh"
          "fish"
        ];
        installs = lib.hasPrefix "installShellCompletion --cmd ullmctl" x86Packages.ullmd.dotnetArguments.postFixup;
        tools = map (package: package.name) x86Packages.ullmd.dotnetArguments.nativeBuildInputs;
        # ullmctl's Native AOT publish (PublishAot): clang on the build machine, zlib for the host, and a
        # self-contained build (a framework-dependent one passes -p:PublishTrimmed=false, which AOT refuses).
        libraries = map (package: package.name) x86Packages.ullmd.dotnetArguments.buildInputs;
        selfContained = map (package: package.dotnetArguments.selfContainedBuild) [
          x86Packages.ullmd
          x86Packages.ullmctl
        ];
      };
      expected = {
        postInstall = false;
        fixup = [
          true
          true
          true
        ];
        installs = true;
        tools = [
          "install-shell-files"
          "clang"
        ];
        libraries = [ "zlib" ];
        selfContained = [
          true
          true
        ];
      };
    };

    testCrossBuildDoesNotRunTheProgramItBuilt = {
      expr =
        let
          pkgs = nixpkgs.legacyPackages.aarch64-linux;
          cross = pkgs.callPackage ../../nix/package.nix { stdenv = stubs.crossStdenv "x86_64-linux" "aarch64-linux"; };
          native = pkgs.callPackage ../../nix/package.nix { };
        in
        {
          cross = cross.dotnetArguments.postFixup;
          native = native.dotnetArguments.postFixup != "";
        };
      expected = {
        cross = "";
        native = true;
      };
    };

    testEveryProjectFileIsInTheSource = {
      expr = map (project: builtins.pathExists "${x86Packages.ullmd.dotnetArguments.src}/${project}") x86Packages.ullmd.dotnetArguments.projectFile;
      expected = [
        true
        true
      ];
    };

    testDepsAreSriSha256PinnedPackages = {
      expr = lib.filter (
        entry:
        lib.attrNames entry != [
          "hash"
          "pname"
          "version"
        ]
        || builtins.match "sha256-[A-Za-z0-9+/]{43}=" entry.hash == null
      ) deps;
      expected = [ ];
    };

    testDepsCoverTheDirectPackages = {
      expr = lib.all (name: lib.any (entry: entry.pname == name) deps) [
        "Grpc.AspNetCore"
        "Grpc.Tools"
        "Microsoft.Data.Sqlite"
        "Tomlyn"
        "System.CommandLine"
      ];
      expected = true;
    };

    testOverlayAddsBothPackages = {
      expr =
        let
          added = flake.overlays.default (packagesFor "x86_64-linux") { };
        in
        lib.mapAttrs (_: package: package.dotnetArguments.pname) added;
      expected = {
        unified-llm = "unified-llm";
        ullmctl = "ullmctl";
      };
    };

    testDevShellHasTheSdkProtobufAndSqlite = {
      expr = map (package: package.name) flake.devShells.x86_64-linux.default.arguments.packages;
      expected = [
        "dotnet-sdk-10"
        "protobuf"
        "sqlite"
        "jq"
      ];
    };

    testVmMachinePassesTheModuleAssertions = {
      expr = {
        failed = map (a: a.message) (lib.filter (a: !a.assertion) vmMachine.assertions);
        inherit (vmMachine) warnings;
      };
      expected = {
        failed = [ ];
        warnings = [ ];
      };
    };

    testVmMachineRunsTheFlakePackageWithTheTinyModel = {
      expr = {
        execStart = vmMachine.systemd.services.unified-llm.serviceConfig.ExecStart == ''"${x86Packages.default}/bin/ullmd" "--config" "/etc/unified-llm/config.toml"'';
        tiny = vmMachine.services.unified-llm.settings.models.tiny;
        tinyModelScript = lib.hasInfix "tiny-model.py" vmMachine.services.unified-llm.models.tiny.source.script;
        tinyModelPython = map (python: python.pythonPackages) vmMachine.services.unified-llm.models.tiny.source.environment.nativeBuildInputs;
        slice = vmMachine.systemd.slices.ullm.sliceConfig;
        tcp = vmMachine.services.unified-llm.settings.server.tcp_listen;
      };
      expected = {
        execStart = true;
        tiny = {
          backend = "llamacpp";
          source = fakeStorePath "unified-llm-tiny-model.gguf";
          aliases = [ "tiny-chat" ];
          context = 256;
          gpu_layers = 0;
          pinned = false;
          extra_args = [ ];
        };
        tinyModelScript = true;
        tinyModelPython = [
          [
            "gguf"
            "numpy"
          ]
        ];
        slice.MemoryMax = "1G";
        tcp = "127.0.0.1:9000";
      };
    };

    # The VM test switches to this specialisation and expects ullmd's PID to survive: the change it
    # makes must touch the rendered config (a reload) and nothing that restarts the unit.
    testVmSpecialisationChangesAModelSettingAsAReload =
      let
        unit = machine: machine.systemd.services.unified-llm;
      in
      {
        expr = {
          ttl = vmSwitched.services.unified-llm.settings.models.tiny.ttl_seconds or null;
          before = vmMachine.services.unified-llm.settings.models.tiny.ttl_seconds or null;
          reload = (unit vmSwitched).reloadTriggers != (unit vmMachine).reloadTriggers;
          restart = (unit vmSwitched).restartTriggers != (unit vmMachine).restartTriggers;
          serviceConfig = (unit vmSwitched).serviceConfig == (unit vmMachine).serviceConfig;
          execStart = (unit vmSwitched).serviceConfig.ExecStart;
        };
        expected = {
          ttl = 1200;
          before = null;
          reload = true;
          restart = false;
          serviceConfig = true;
          execStart = ''"${x86Packages.default}/bin/ullmd" "--config" "/etc/unified-llm/config.toml"'';
        };
      };

    testVmTestScriptQueriesTheSocketAndRunsUllmctl = {
      expr =
        let
          script = flake.checks.x86_64-linux.vm.arguments.testScript;
        in
        map (fragment: lib.hasInfix fragment script) [
          "wait_for_unit(\"unified-llm.service\")"
          "--unix-socket {socket}"
          "/v1/models"
          "machine.succeed(\"ullmctl status\")"
          "/run/current-system/specialisation/longer-ttl/bin/switch-to-configuration test"
          "assert main_pid(\"unified-llm.service\") == pid"
          "assert backend_units() == backends"
        ];
      expected = [
        true
        true
        true
        true
        true
        true
        true
      ];
    };
  };
in
{
  count = builtins.length (builtins.attrNames tests);
  failures = lib.runTests tests;
  # eval-module.sh compiles it with Python: the VM test cannot run here, its script can be parsed.
  vmTestScript = flake.checks.x86_64-linux.vm.arguments.testScript;
}

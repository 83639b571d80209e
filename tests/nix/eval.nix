# Evaluates nix/module.nix with nixpkgs' lib.evalModules against stubs of the NixOS options it
# sets and of pkgs (stubs.nix), and checks the results with lib.runTests.
# Run through tests/nix/eval-module.sh; the result is { count; failures; }.
{ nixpkgsLib }:

let
  lib = import nixpkgsLib;
  stubs = import ./stubs.nix { inherit lib; };
  toml = import ./toml.nix { inherit lib; };
  inherit (stubs) fakeStorePath noSwitches;

  evalHost =
    host:
    (lib.evalModules {
      modules = [
        stubs.nixosModule
        ../../nix/module.nix
        { _module.args.pkgs = stubs.pkgs; }
        { services.unified-llm = host; }
      ];
    }).config;

  failedAssertions = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  # True when evaluating the host (deeply) fails, as a type error or unknown option does.
  rejects = host: !(builtins.tryEval (builtins.deepSeq (evalHost host).services.unified-llm.settings true)).success;

  sampleHost = {
    enable = true;
    acceleration = "cuda";
    listen.tcp = "0.0.0.0:9000";
    openFirewall = true;
    backends.ollama.enable = true;
    models.tiny = {
      source = "/var/lib/unified-llm/models/tiny.gguf";
      aliases = [ "tiny-chat" ];
      context = 256;
      gpuLayers = 8;
      ttlSeconds = 600;
      pinned = true;
      extraArgs = [
        "--threads"
        "2"
      ];
    };
    models.llama3 = {
      backend = "ollama";
      source = noSwitches "llama3-gguf";
      priority = 80;
    };
    credentials.anthropic = "/run/secrets/anthropic-key";
    environmentFile = "/run/secrets/unified-llm.env";
    extraArgs = [ "--log-level=debug" ];
    slice.memoryMax = "48G";
    settings = {
      server.log_level = "debug";
      gpu.reserve_mib = 1024;
      providers.anthropic = {
        kind = "anthropic";
        base_url = "https://llm-gateway.example/v1";
        api_key_credential = "anthropic";
        models = [ "claude-haiku" ];
        cost_per_million_input_tokens = 0.8;
      };
      routes.smart = {
        strategy = "local-first";
        targets = [
          "tiny"
          "anthropic/claude-haiku"
        ];
      };
    };
  };

  sample = evalHost sampleHost;
  sampleService = sample.systemd.services.unified-llm;
  sampleConfigFile = sample.environment.etc."unified-llm/config.toml".source;
  # What the module hands to pkgs.formats.toml, rendered the same way.
  render = config: toml.generate "unified-llm.toml" config.services.unified-llm.settings;
  sampleRendered = render sample;

  minimal = evalHost { enable = true; };
  minimalRendered = render minimal;
  minimalService = minimal.systemd.services.unified-llm.serviceConfig;

  expectedSampleSettings = {
    server = {
      data_dir = "/var/lib/unified-llm";
      tcp_listen = "0.0.0.0:9000";
      admin_group = "ullm-admin";
      log_level = "debug";
    };
    gpu = {
      nvml_library = "/run/opengl-driver/lib/libnvidia-ml.so.1";
      reserve_mib = 1024;
    };
    security.require_key_on_tcp = true;
    backends = {
      llamacpp = {
        enabled = true;
        executable = fakeStorePath "llama-cpp-cudaSupport=1/bin/llama-server";
      };
      ollama = {
        enabled = true;
        executable = fakeStorePath "ollama-acceleration=cuda/bin/ollama";
      };
      vllm.enabled = false;
    };
    models = {
      tiny = {
        backend = "llamacpp";
        source = "/var/lib/unified-llm/models/tiny.gguf";
        aliases = [ "tiny-chat" ];
        context = 256;
        gpu_layers = 8;
        ttl_seconds = 600;
        pinned = true;
        extra_args = [
          "--threads"
          "2"
        ];
      };
      llama3 = {
        backend = "ollama";
        source = fakeStorePath "llama3-gguf";
        aliases = [ ];
        gpu_layers = "auto";
        priority = 80;
        pinned = false;
        extra_args = [ ];
      };
    };
    providers.anthropic = {
      kind = "anthropic";
      base_url = "https://llm-gateway.example/v1";
      api_key_credential = "anthropic";
      models = [ "claude-haiku" ];
      cost_per_million_input_tokens = 0.8;
    };
    routes.smart = {
      strategy = "local-first";
      targets = [
        "tiny"
        "anthropic/claude-haiku"
      ];
    };
  };

  # The renderings of the sample and minimal hosts, as committed in golden/.
  golden = {
    sample = sampleRendered.text;
    minimal = minimalRendered.text;
  };

  hasMessage = fragment: messages: lib.any (lib.hasInfix fragment) messages;

  # KEY=VALUE lines of the [Service] section of packaging/systemd/unified-llm.service.
  packagedService =
    let
      lines = lib.splitString "\n" (builtins.readFile ../../packaging/systemd/unified-llm.service);
      section =
        (lib.foldl' (
          state: line:
          if lib.hasPrefix "[" line then
            state // { current = line; }
          else
            state // { lines = state.lines ++ lib.optional (state.current == "[Service]") line; }
        ) { current = ""; lines = [ ]; } lines).lines;
      settings = lib.filter (line: line != "" && !lib.hasPrefix "#" line) section;
      split = line: builtins.match "([A-Za-z]+)=(.*)" line;
    in
    lib.listToAttrs (map (line: lib.nameValuePair (lib.elemAt (split line) 0) (lib.elemAt (split line) 1)) settings);

  # How NixOS writes a serviceConfig value into the unit file.
  unitValue =
    value:
    if builtins.isBool value then
      lib.boolToString value
    else if builtins.isList value then
      lib.concatStringsSep " " value
    else
      toString value;

  # Settings that name host-specific paths differ on purpose between the two.
  pathSettings = [
    "ExecStart"
    "ExecReload"
    "EnvironmentFile"
    "LoadCredential"
    "ReadWritePaths"
  ];

  tests = {
    testSampleHostPassesAssertions = {
      expr = {
        assertions = failedAssertions sample;
        inherit (sample) warnings;
      };
      expected = {
        assertions = [ ];
        warnings = [ ];
      };
    };

    testSampleSettingsAreRenderedWithConfigExampleKeys = {
      expr = sample.services.unified-llm.settings;
      expected = expectedSampleSettings;
    };

    testSampleTomlReadsBackAsTheSettings = {
      expr = builtins.fromTOML sampleRendered.text;
      expected = expectedSampleSettings;
    };

    testMinimalTomlReadsBackAsTheSettings = {
      expr = builtins.fromTOML minimalRendered.text;
      expected = minimal.services.unified-llm.settings;
    };

    testExecStartRunsUllmdWithTheGeneratedConfigAndExtraArgs = {
      expr = sampleService.serviceConfig.ExecStart;
      expected = "${fakeStorePath "unified-llm"}/bin/ullmd --config ${fakeStorePath "unified-llm-checked.toml"} '--log-level=debug'";
    };

    testUllmdChecksTheRenderedConfigAtBuildTime = {
      expr = {
        script = lib.hasInfix "ullmd --check --config ${fakeStorePath "unified-llm.toml"}\n" sampleConfigFile.script;
        copies = lib.hasInfix "cp ${fakeStorePath "unified-llm.toml"} \"$out\"" sampleConfigFile.script;
        tools = map (package: package.outPath) sampleConfigFile.environment.nativeBuildInputs;
      };
      expected = {
        script = true;
        copies = true;
        tools = [ (fakeStorePath "unified-llm") ];
      };
    };

    testUncheckedConfigIsUsedAsRendered = {
      expr =
        let
          host = evalHost {
            enable = true;
            checkConfig = false;
          };
        in
        {
          execStart = host.systemd.services.unified-llm.serviceConfig.ExecStart;
          etc = host.environment.etc."unified-llm/config.toml".source.outPath;
        };
      expected = {
        execStart = "${fakeStorePath "unified-llm"}/bin/ullmd --config ${fakeStorePath "unified-llm.toml"}";
        etc = fakeStorePath "unified-llm.toml";
      };
    };

    testServiceLifecycleSettings = {
      expr = {
        inherit (minimalService)
          Type
          NotifyAccess
          WatchdogSec
          Restart
          ExecReload
          RuntimeDirectory
          StateDirectory
          LogsDirectory
          ReadWritePaths
          LoadCredential
          EnvironmentFile
          ;
        inherit (minimal.systemd.services.unified-llm) wantedBy;
        ExecStart = minimalService.ExecStart;
      };
      expected = {
        Type = "notify";
        NotifyAccess = "main";
        WatchdogSec = "60s";
        Restart = "on-failure";
        ExecReload = "${fakeStorePath "coreutils"}/bin/kill -HUP $MAINPID";
        RuntimeDirectory = "unified-llm";
        StateDirectory = "unified-llm";
        LogsDirectory = "unified-llm";
        ReadWritePaths = [ ];
        LoadCredential = [ ];
        EnvironmentFile = [ ];
        wantedBy = [ "multi-user.target" ];
        ExecStart = "${fakeStorePath "unified-llm"}/bin/ullmd --config ${fakeStorePath "unified-llm-checked.toml"}";
      };
    };

    testHardeningKeepsGpuDevicesAndDbusReachable = {
      expr = {
        inherit (minimalService) ProtectSystem NoNewPrivileges;
        privateDevices = minimalService ? PrivateDevices;
        memoryDenyWriteExecute = minimalService ? MemoryDenyWriteExecute;
        delegate = minimalService ? Delegate;
        unixSockets = lib.elem "AF_UNIX" minimalService.RestrictAddressFamilies;
        capabilities = minimalService.CapabilityBoundingSet;
      };
      expected = {
        ProtectSystem = "strict";
        NoNewPrivileges = true;
        privateDevices = false;
        memoryDenyWriteExecute = false;
        delegate = false;
        unixSockets = true;
        capabilities = [
          "CAP_CHOWN"
          "CAP_DAC_OVERRIDE"
          "CAP_DAC_READ_SEARCH"
          "CAP_NET_BIND_SERVICE"
        ];
      };
    };

    testSecretsArePassedByPathNotContent = {
      expr = {
        inherit (sampleService.serviceConfig) LoadCredential EnvironmentFile;
      };
      expected = {
        LoadCredential = [ "anthropic:/run/secrets/anthropic-key" ];
        EnvironmentFile = [ "/run/secrets/unified-llm.env" ];
      };
    };

    testAdminGroupFirewallSliceAndEtc = {
      expr = {
        groups = lib.attrNames sample.users.groups;
        ports = sample.networking.firewall.allowedTCPPorts;
        slice = sample.systemd.slices.ullm.sliceConfig;
        etc = sampleConfigFile.outPath;
        packages = map (p: p.outPath) sample.environment.systemPackages;
      };
      expected = {
        groups = [ "ullm-admin" ];
        ports = [ 9000 ];
        slice.MemoryMax = "48G";
        etc = fakeStorePath "unified-llm-checked.toml";
        packages = [ (fakeStorePath "unified-llm") ];
      };
    };

    testMinimalHostDefaults = {
      expr = {
        settings = minimal.services.unified-llm.settings;
        ports = minimal.networking.firewall.allowedTCPPorts;
        slice = minimal.systemd.slices.ullm.sliceConfig;
      };
      expected = {
        settings = {
          server = {
            data_dir = "/var/lib/unified-llm";
            tcp_listen = "";
            admin_group = "ullm-admin";
          };
          gpu = {
            nvml_library = "/run/opengl-driver/lib/libnvidia-ml.so.1";
            reserve_mib = 512;
          };
          security.require_key_on_tcp = true;
          backends = {
            llamacpp = {
              enabled = true;
              executable = fakeStorePath "llama-cpp/bin/llama-server";
            };
            ollama.enabled = false;
            vllm.enabled = false;
          };
          models = { };
        };
        ports = [ ];
        slice = { };
      };
    };

    testDisabledServiceDefinesNothing = {
      expr =
        let
          disabled = evalHost { };
        in
        {
          services = disabled.systemd.services;
          groups = disabled.users.groups;
          etc = disabled.environment.etc;
        };
      expected = {
        services = { };
        groups = { };
        etc = { };
      };
    };

    testAdminGroupAndDataDirOutsideStateDirectory = {
      expr =
        let
          host = evalHost {
            enable = true;
            adminGroup = "llm-operators";
            settings.server.data_dir = "/srv/ullm";
          };
        in
        {
          groups = lib.attrNames host.users.groups;
          adminGroup = host.services.unified-llm.settings.server.admin_group;
          readWrite = host.systemd.services.unified-llm.serviceConfig.ReadWritePaths;
        };
      expected = {
        groups = [ "llm-operators" ];
        adminGroup = "llm-operators";
        readWrite = [ "/srv/ullm" ];
      };
    };

    testModelOnDisabledBackendIsRejected = {
      expr = hasMessage "services.unified-llm.models.big.backend is \"vllm\", but services.unified-llm.backends.vllm.enable is false" (
        failedAssertions (evalHost {
          enable = true;
          models.big = {
            backend = "vllm";
            source = "Qwen/Qwen2.5-7B-Instruct";
          };
        })
      );
      expected = true;
    };

    testOpenTcpWithoutKeysIsRejected = {
      expr = hasMessage "listens on 0.0.0.0:9000, which is not a loopback address, while settings.security.require_key_on_tcp is false" (
        failedAssertions (evalHost {
          enable = true;
          listen.tcp = "0.0.0.0:9000";
          settings.security.require_key_on_tcp = false;
        })
      );
      expected = true;
    };

    testLoopbackTcpWithoutKeysIsAllowed = {
      expr = map (
        address:
        failedAssertions (evalHost {
          enable = true;
          listen.tcp = address;
          settings.security.require_key_on_tcp = false;
        })
      ) [ "127.0.0.1:9000" "[::1]:9000" "127.1.2.3:9000" "127.0.0.1:09000" ];
      expected = [ [ ] [ ] [ ] [ ] ];
    };

    testTcpAddressThatUllmdRejectsIsRejected = {
      expr = map (
        address:
        hasMessage "TCP listen address \"${address}\" is not IP:PORT with a port in 1..65535" (
          failedAssertions (evalHost {
            enable = true;
            listen.tcp = address;
          })
        )
      ) [ "9000" "localhost:9000" "127.0.0.1:65536" "127.0.0.1:0" "[::1]9000" ];
      expected = [
        true
        true
        true
        true
        true
      ];
    };

    testInvalidModelNameOrAliasIsRejected = {
      expr = map (
        host:
        hasMessage "model names and aliases must be 1-64 letters" (failedAssertions (evalHost host))
      ) [
        {
          enable = true;
          models."-tiny".source = "/m.gguf";
        }
        {
          enable = true;
          models.tiny = {
            source = "/m.gguf";
            aliases = [ "a..b" ];
          };
        }
      ];
      expected = [
        true
        true
      ];
    };

    testRelativeLlamacppSourceIsRejected = {
      expr = hasMessage "services.unified-llm.models.tiny.source must be an absolute path to a GGUF file for the llamacpp backend, not \"models/tiny.gguf\"" (
        failedAssertions (evalHost {
          enable = true;
          models.tiny.source = "models/tiny.gguf";
        })
      );
      expected = true;
    };

    testOllamaModelNameIsAcceptedAsSource = {
      expr =
        let
          host = evalHost {
            enable = true;
            backends.ollama.enable = true;
            models.llama3 = {
              backend = "ollama";
              source = "llama3.1:8b";
            };
          };
        in
        {
          failed = failedAssertions host;
          source = host.services.unified-llm.settings.models.llama3.source;
        };
      expected = {
        failed = [ ];
        source = "llama3.1:8b";
      };
    };

    testRelativeCredentialPathIsRejected = {
      expr = hasMessage "services.unified-llm.credentials.openai must be an absolute path, not \"secrets/openai\"" (
        failedAssertions (evalHost {
          enable = true;
          credentials.openai = "secrets/openai";
        })
      );
      expected = true;
    };

    testCredentialNameWithColonIsRejected = {
      expr = hasMessage "the name \"open:ai\" may only contain" (
        failedAssertions (evalHost {
          enable = true;
          credentials."open:ai" = "/run/secrets/openai";
        })
      );
      expected = true;
    };

    testRelativeEnvironmentFileIsRejected = {
      expr = hasMessage "services.unified-llm.environmentFile must be an absolute path" (
        failedAssertions (evalHost {
          enable = true;
          environmentFile = "unified-llm.env";
        })
      );
      expected = true;
    };

    testAccelerationOnAPackageWithoutGpuSwitchesIsRejected = {
      expr = hasMessage "the package of backend llamacpp takes none of cudaSupport, rocmSupport or acceleration" (
        failedAssertions (evalHost {
          enable = true;
          acceleration = "rocm";
          backends.llamacpp.package = noSwitches "my-llama";
        })
      );
      expected = true;
    };

    testRocmAccelerationOverridesThePackage = {
      expr =
        (evalHost {
          enable = true;
          acceleration = "rocm";
        }).services.unified-llm.settings.backends.llamacpp.executable;
      expected = fakeStorePath "llama-cpp-rocmSupport=1/bin/llama-server";
    };

    testOpenFirewallOnLoopbackWarns = {
      expr =
        let
          host = evalHost {
            enable = true;
            listen.tcp = "127.0.0.1:9000";
            openFirewall = true;
          };
        in
        {
          warned = hasMessage "openFirewall is set, but ullmd listens on 127.0.0.1:9000" host.warnings;
          ports = host.networking.firewall.allowedTCPPorts;
        };
      expected = {
        warned = true;
        ports = [ ];
      };
    };

    testTypeErrorsAndMisspelledOptionsAreRejected = {
      expr = map rejects [
        {
          enable = true;
          models.tiny = {
            source = "/m.gguf";
            gpuLayers = "all";
          };
        }
        {
          enable = true;
          models.tiny.source = "/m.gguf";
          models.tiny.ttl = 5;
        }
        {
          enable = true;
          models.tiny.source = "/m.gguf";
          models.tiny.backend = "exllama";
        }
        {
          enable = true;
          acceleration = "vulkan";
        }
        {
          enable = true;
          settings.gpu.reserve_mib = -1;
        }
        {
          enable = true;
          modles = { };
        }
        {
          enable = true;
          models.tiny = {
            source = "/m.gguf";
            priority = 1001;
          };
        }
        {
          enable = true;
          models.tiny = {
            source = "/m.gguf";
            gpuLayers = 100001;
          };
        }
        {
          enable = true;
          adminGroup = "LLM Admins";
        }
      ];
      expected = [
        true
        true
        true
        true
        true
        true
        true
        true
        true
      ];
    };

    testPackagedUnitHasTheModulesServiceSettings = {
      expr = lib.mapAttrs (_: unitValue) (removeAttrs minimalService pathSettings);
      expected = removeAttrs packagedService pathSettings;
    };

    # tests/UnifiedLlm.Tests/Packaging checks these files with ullmd's own config loader.
    testGoldenFilesAreTheCurrentRendering = {
      expr = {
        sample = builtins.readFile ./golden/sample.toml;
        minimal = builtins.readFile ./golden/minimal.toml;
      };
      expected = golden;
    };

    testTheStubsAcceptAValidHost = {
      expr = rejects { enable = true; };
      expected = false;
    };
  };
in
{
  inherit golden;
  count = builtins.length (builtins.attrNames tests);
  failures = lib.runTests tests;
}

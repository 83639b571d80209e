# Evaluates nix/module.nix with nixpkgs' lib.evalModules against stubs of the NixOS options it
# sets and of pkgs (stubs.nix), and checks the results with lib.runTests.
# Run through tests/nix/eval-module.sh; the result is { count; failures; }.
{ nixpkgsLib }:

let
  lib = import nixpkgsLib;
  stubs = import ./stubs.nix { inherit lib; };
  toml = import ./toml.nix { inherit lib; };
  inherit (stubs) fakeStorePath noSwitches;

  evalHostWith =
    pkgs: host:
    (lib.evalModules {
      modules = [
        stubs.nixosModule
        ../../nix/module.nix
        { _module.args.pkgs = pkgs; }
        { services.unified-llm = host; }
      ];
    }).config;
  evalHost = evalHostWith stubs.pkgs;
  # A host on the nftables firewall (networking.nftables.enable) instead of iptables.
  evalNftablesHost =
    host:
    (lib.evalModules {
      modules = [
        stubs.nixosModule
        ../../nix/module.nix
        { _module.args.pkgs = stubs.pkgs; }
        { services.unified-llm = host; }
        { networking.nftables.enable = true; }
      ];
    }).config;

  failedAssertions = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  # True when evaluating the host (deeply) fails, as a type error or unknown option does.
  rejects =
    host:
    let
      config = evalHost host;
    in
    !(builtins.tryEval (
      builtins.deepSeq [
        config.services.unified-llm.settings
        config.systemd.services.unified-llm.serviceConfig
      ] true
    )).success;

  quoted = arguments: lib.concatMapStringsSep " " builtins.toJSON arguments;
  ullmd = "${fakeStorePath "unified-llm"}/bin/ullmd";

  sampleHost = {
    enable = true;
    acceleration = "cuda";
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
    peers.gpu2 = {
      url = "http://10.0.0.2:9000";
      keyFile = "/run/keys/ullm-peer-gpu2";
    };
    environmentFile = "/run/secrets/unified-llm.env";
    extraArgs = [ "--log-level=debug" ];
    slice.memoryMax = "48G";
    settings = {
      server.log_level = "debug";
      server.tcp_listen = "0.0.0.0:9000";
      server.allow_plaintext = true;
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
      allow_plaintext = true;
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
    peers.gpu2 = {
      url = "http://10.0.0.2:9000";
      api_key_credential = "peer-gpu2";
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

  # Settings that name host-specific paths differ on purpose between the two. DevicePolicy= and
  # DeviceAllow= are the module's: on NixOS the supervisor is known from the settings, while the
  # packaged unit serves hosts whose supervisor may be the process one (backends as its children).
  pathSettings = [
    "DevicePolicy"
    "DeviceAllow"
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
      expected = quoted [
        ullmd
        "--config"
        "/etc/unified-llm/config.toml"
        "--log-level=debug"
      ];
    };

    testUllmdChecksTheRenderedConfigAtBuildTime = {
      expr = {
        script = lib.hasInfix "ullmd --check --config ${sampleRendered.outPath}\n" sampleConfigFile.script;
        copies = lib.hasInfix "cp ${sampleRendered.outPath} \"$out\"" sampleConfigFile.script;
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
          etc = host.environment.etc."unified-llm/config.toml".source.outPath == (render host).outPath;
        };
      expected = {
        execStart = quoted [
          ullmd
          "--config"
          "/etc/unified-llm/config.toml"
        ];
        etc = true;
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
        ExecStart = quoted [
          ullmd
          "--config"
          "/etc/unified-llm/config.toml"
        ];
      };
    };

    testHardeningKeepsGpuDevicesAndDbusReachable = {
      expr = {
        inherit (minimalService) ProtectSystem NoNewPrivileges;
        privateDevices = minimalService ? PrivateDevices;
        memoryDenyWriteExecute = minimalService.MemoryDenyWriteExecute or null;
        delegate = minimalService ? Delegate;
        unixSockets = lib.elem "AF_UNIX" minimalService.RestrictAddressFamilies;
        capabilities = minimalService.CapabilityBoundingSet;
      };
      expected = {
        ProtectSystem = "strict";
        NoNewPrivileges = true;
        privateDevices = false;
        memoryDenyWriteExecute = true;
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
        LoadCredential = [
          "anthropic:/run/secrets/anthropic-key"
          "peer-gpu2:/run/keys/ullm-peer-gpu2"
        ];
        EnvironmentFile = [ "/run/secrets/unified-llm.env" ];
      };
    };

    testAdminGroupFirewallSliceAndEtc = {
      expr = {
        groups = lib.attrNames sample.users.groups;
        ports = sample.networking.firewall.allowedTCPPorts;
        slice = sample.systemd.slices.ullm.sliceConfig;
        etc = lib.hasSuffix "-unified-llm-checked.toml" sampleConfigFile.outPath;
        packages = map (p: p.outPath) sample.environment.systemPackages;
      };
      expected = {
        groups = [ "ullm-admin" ];
        ports = [ 9000 ];
        slice.MemoryMax = "48G";
        etc = true;
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
            settings.server.admin_group = "llm-operators";
            settings.server.data_dir = "/srv/ullm";
          };
        in
        {
          groups = lib.attrNames host.users.groups;
          adminGroup = host.services.unified-llm.settings.server.admin_group;
          readWrite = host.systemd.services.unified-llm.serviceConfig.ReadWritePaths;
          tmpfiles = host.systemd.tmpfiles.rules;
        };
      expected = {
        groups = [ "llm-operators" ];
        adminGroup = "llm-operators";
        readWrite = [ "/srv/ullm" ];
        tmpfiles = [ "d /srv/ullm 0750 root root - -" ];
      };
    };

    # ProtectSystem=strict leaves only StateDirectory= writable: any other data_dir, including one
    # whose name merely starts like it, needs ReadWritePaths= (and must exist: tmpfiles creates it).
    testEveryDataDirOutsideTheStateDirectoryIsWritable = {
      expr = map (
        dir:
        let
          host = evalHost {
            enable = true;
            settings.server.data_dir = dir;
          };
        in
        {
          readWrite = host.systemd.services.unified-llm.serviceConfig.ReadWritePaths;
          tmpfiles = host.systemd.tmpfiles.rules;
        }
      ) [ "/var/lib/unified-llm" "/var/lib/unified-llm/db" "/var/lib/unified-llm-data" "/var/lib/unified" ];
      expected = [
        {
          readWrite = [ ];
          tmpfiles = [ ];
        }
        {
          readWrite = [ ];
          tmpfiles = [ ];
        }
        {
          readWrite = [ "/var/lib/unified-llm-data" ];
          tmpfiles = [ "d /var/lib/unified-llm-data 0750 root root - -" ];
        }
        {
          readWrite = [ "/var/lib/unified" ];
          tmpfiles = [ "d /var/lib/unified 0750 root root - -" ];
        }
      ];
    };

    # systemd expands %-specifiers and $VARIABLES in ExecStart=; ullmd must get the arguments as written.
    testExtraArgsReachUllmdAsWritten = {
      expr =
        (evalHost {
          enable = true;
          extraArgs = [
            "--name=%n"
            "$HOME"
            "two words"
            "it's"
          ];
        }).systemd.services.unified-llm.serviceConfig.ExecStart;
      expected = ''"${ullmd}" "--config" "/etc/unified-llm/config.toml" "--name=%%n" "$$HOME" "two words" "it's"'';
    };

    # A settings change changes only X-Reload-Triggers (switch-to-configuration reloads ullmd); the
    # settings ullmd cannot apply live change X-Restart-Triggers (it restarts ullmd).
    testSettingsChangesReloadAndListenerChangesRestart =
      let
        unitOf =
          host:
          let
            unit =
              (evalHost (
                {
                  enable = true;
                  models.tiny.source = "/m.gguf";
                }
                // host
              )).systemd.services.unified-llm;
          in
          {
            inherit (unit) reloadTriggers restartTriggers;
            inherit (unit.serviceConfig) ExecStart;
          };
        base = unitOf { };
        changed = host: {
          reload = (unitOf host).reloadTriggers != base.reloadTriggers;
          restart = (unitOf host).restartTriggers != base.restartTriggers;
          execStart = (unitOf host).ExecStart != base.ExecStart;
        };
      in
      {
        expr = {
          reloadTriggerIsTheCheckedFile = map (trigger: lib.hasSuffix "-unified-llm-checked.toml" trigger.outPath) base.reloadTriggers;
          modelTtl = changed { models.tiny = { source = "/m.gguf"; ttlSeconds = 60; }; };
          logLevel = changed { settings.server.log_level = "debug"; };
          reserve = changed { settings.gpu.reserve_mib = 2048; };
          tcpListen = changed { settings.server.tcp_listen = "127.0.0.1:9001"; };
          dataDir = changed { settings.server.data_dir = "/srv/ullm"; };
          supervisor = changed { settings.server.supervisor = "process"; };
          adminSocket = changed { settings.server.admin_socket = "/run/ullm-admin.sock"; };
          adminGroup = changed { settings.server.admin_group = "ops"; };
        };
        expected = {
          reloadTriggerIsTheCheckedFile = [ true ];
          modelTtl = {
            reload = true;
            restart = false;
            execStart = false;
          };
          logLevel = {
            reload = true;
            restart = false;
            execStart = false;
          };
          reserve = {
            reload = true;
            restart = false;
            execStart = false;
          };
          tcpListen = {
            reload = true;
            restart = true;
            execStart = false;
          };
          dataDir = {
            reload = true;
            restart = true;
            execStart = false;
          };
          supervisor = {
            reload = true;
            restart = true;
            execStart = false;
          };
          adminSocket = {
            reload = true;
            restart = true;
            execStart = false;
          };
          adminGroup = {
            reload = true;
            restart = true;
            execStart = false;
          };
        };
      };

    # The keys that restart ullmd are exactly those daemon/Config/ConfigHolder.cs refuses to reload.
    testRestartKeysAreTheOnesUllmdRefusesToReload = {
      expr =
        let
          holder = builtins.readFile ../../daemon/Config/ConfigHolder.cs;
          checked = map lib.head (
            lib.filter (m: m != null) (map (builtins.match ''[[:space:]]*[(]"([a-z_]+)", s => .*'') (lib.splitString "\n" holder))
          );
          unit =
            host:
            (evalHost (
              {
                enable = true;
              }
              // host
            )).systemd.services.unified-llm.restartTriggers;
          restarts = key: unit { settings.server.${key} = if key == "data_dir" then "/srv/x" else "x"; } != unit { };
        in
        {
          checked = lib.length checked;
          allRestart = lib.all restarts checked;
          logLevelDoesNot = restarts "log_level";
        };
      expected = {
        checked = 15;
        allRestart = true;
        logLevelDoesNot = false;
      };
    };

    testDevicesAreClosedButForWhatNvmlOpens = {
      expr = {
        systemd = {
          inherit (minimalService) DevicePolicy DeviceAllow;
        };
        process =
          let
            service =
              (evalHost {
                enable = true;
                settings.server.supervisor = "process";
              }).systemd.services.unified-llm.serviceConfig;
          in
          {
            inherit (service) DevicePolicy DeviceAllow;
          };
      };
      expected = {
        systemd = {
          DevicePolicy = "closed";
          DeviceAllow = [
            "char-nvidia-frontend rw"
            "char-nvidia-caps r"
          ];
        };
        process = {
          DevicePolicy = "closed";
          DeviceAllow = [
            "char-nvidia-frontend rw"
            "char-nvidia-caps r"
            "char-nvidia-uvm rw"
            "char-drm rw"
            "char-kfd rw"
          ];
        };
      };
    };

    # The module's backends and models are defaults: a user's own key replaces them, no conflict.
    testUserSettingsReplaceTheModulesValues = {
      expr =
        let
          settings =
            (evalHost {
              enable = true;
              models.tiny = {
                source = "/m.gguf";
                context = 256;
              };
              settings.backends.llamacpp.executable = "/opt/llama.cpp/bin/llama-server";
              settings.models.tiny.context = 4096;
            }).services.unified-llm.settings;
        in
        {
          inherit (settings.backends) llamacpp;
          inherit (settings.models.tiny) context source;
        };
      expected = {
        llamacpp = {
          enabled = true;
          executable = "/opt/llama.cpp/bin/llama-server";
        };
        context = 4096;
        source = "/m.gguf";
      };
    };

    # One option per setting: the former duplicates still work, with a warning naming the setting.
    testFormerDuplicateOptionsForwardToSettingsWithAWarning = {
      expr =
        let
          host = evalHost {
            enable = true;
            listen.tcp = "127.0.0.1:9000";
            adminGroup = "ops";
            gpu.nvmlLibrary = "/usr/lib/libnvidia-ml.so.1";
          };
        in
        {
          inherit (host.services.unified-llm.settings.server) tcp_listen admin_group;
          inherit (host.services.unified-llm.settings.gpu) nvml_library;
          warnings = map (option: hasMessage option host.warnings) [
            "services.unified-llm.listen.tcp"
            "services.unified-llm.adminGroup"
            "services.unified-llm.gpu.nvmlLibrary"
          ];
        };
      expected = {
        tcp_listen = "127.0.0.1:9000";
        admin_group = "ops";
        nvml_library = "/usr/lib/libnvidia-ml.so.1";
        warnings = [
          true
          true
          true
        ];
      };
    };

    # The names ullmd's loader refuses twice are refused at evaluation too, checkConfig or not.
    testDuplicateModelNamesAndAliasesAreRejected = {
      expr = map (host: failedAssertions (evalHost ({ enable = true; checkConfig = false; } // host))) [
        {
          models.a = {
            source = "/a.gguf";
            aliases = [ "chat" ];
          };
          models.b = {
            source = "/b.gguf";
            aliases = [ "chat" ];
          };
        }
        {
          models.a.source = "/a.gguf";
          models.b = {
            source = "/b.gguf";
            aliases = [ "a" ];
          };
        }
        {
          models.a.source = "/a.gguf";
          settings.models.c = {
            backend = "llamacpp";
            source = "/c.gguf";
            aliases = [ "a" ];
          };
        }
        {
          models.a = {
            source = "/a.gguf";
            aliases = [ "smart" ];
          };
          settings.routes.smart.targets = [ "a" ];
        }
        {
          models.a = {
            source = "/a.gguf";
            aliases = [
              "a1"
              "a1"
            ];
          };
        }
      ];
      expected = [
        [ ''services.unified-llm: "chat" is the name or an alias of more than one model (a, b); each name and alias may belong to one model only.'' ]
        [ ''services.unified-llm: "a" is the name or an alias of more than one model (a, b); each name and alias may belong to one model only.'' ]
        [ ''services.unified-llm: "a" is the name or an alias of more than one model (a, c); each name and alias may belong to one model only.'' ]
        [ ''services.unified-llm: route "smart" has the same name as a model or alias (of a).'' ]
        [ ]
      ];
    };

    testModuleHasMaintainers = {
      expr = map (maintainer: lib.isString maintainer.name && lib.isString maintainer.email) minimal.meta.maintainers;
      expected = [ true ];
    };

    # Cross builds: the check runs on the build machine (runCommandLocal), and only where that
    # machine can run the host's ullmd.
    testConfigCheckIsOffWhereTheBuildMachineCannotRunUllmd = {
      expr =
        let
          cross = evalHostWith (stubs.pkgs // { stdenv = stubs.crossStdenv "x86_64-linux" "aarch64-linux"; }) { enable = true; };
        in
        {
          native = minimal.services.unified-llm.checkConfig;
          cross = cross.services.unified-llm.checkConfig;
          crossEtc = cross.environment.etc."unified-llm/config.toml".source.outPath == (render cross).outPath;
        };
      expected = {
        native = true;
        cross = false;
        crossEtc = true;
      };
    };

    testPrometheusScrapesTheTcpListenerAndLoadsTheAlertRules = {
      expr =
        let
          host =
            address:
            evalHost {
              enable = true;
              settings.server.tcp_listen = address;
              prometheus = {
                scrape = true;
                alertRules = true;
                scrapeInterval = "10s";
              };
            };
          targets = address: map (c: (lib.head c.static_configs).targets) (host address).services.prometheus.scrapeConfigs;
          wildcard = host "0.0.0.0:9000";
        in
        {
          job = removeAttrs (lib.head wildcard.services.prometheus.scrapeConfigs) [ "static_configs" ];
          targets = map targets [ "0.0.0.0:9000" "[::]:9000" "127.0.0.1:9100" "10.0.0.5:9000" ];
          rules = map (file: lib.hasSuffix "packaging/observability/prometheus/alerts.yml" (toString file) && builtins.pathExists file) wildcard.services.prometheus.ruleFiles;
          off = (evalHost { enable = true; }).services.prometheus;
          # /metrics on TCP needs a key: without keyFile the module opens it, with keyFile the job sends the key.
          openWithoutKey = wildcard.services.unified-llm.settings.security.metrics_open_on_tcp or false;
          keyed =
            let
              keyedHost = evalHost {
                enable = true;
                settings.server.tcp_listen = "127.0.0.1:9000";
                prometheus = {
                  scrape = true;
                  keyFile = "/run/secrets/ullm-key";
                };
              };
            in
            {
              authorization = (lib.head keyedHost.services.prometheus.scrapeConfigs).authorization;
              open = keyedHost.services.unified-llm.settings.security.metrics_open_on_tcp or false;
            };
          unixOnly = failedAssertions (evalHost {
            enable = true;
            prometheus.scrape = true;
          });
        };
      expected = {
        job = {
          job_name = "unified-llm";
          scrape_interval = "10s";
          metrics_path = "/metrics";
        };
        targets = [
          [ [ "127.0.0.1:9000" ] ]
          [ [ "[::1]:9000" ] ]
          [ [ "127.0.0.1:9100" ] ]
          [ [ "10.0.0.5:9000" ] ]
        ];
        rules = [ true ];
        off = {
          scrapeConfigs = [ ];
          ruleFiles = [ ];
        };
        openWithoutKey = true;
        keyed = {
          authorization.credentials_file = "/run/secrets/ullm-key";
          open = false;
        };
        unixOnly = [ ''services.unified-llm.prometheus.scrape needs a TCP listener (settings.server.tcp_listen, e.g. "127.0.0.1:9000"): Prometheus cannot scrape ullmd's unix socket.'' ];
      };
    };

    # The host of docs/nixos.md's Monitoring section, read from the document itself.
    testDocsMonitoringHostEvaluates = {
      expr =
        let
          docs = builtins.readFile ../../docs/nixos.md;
          section = lib.elemAt (lib.splitString "## Monitoring" docs) 1;
          block = lib.head (lib.splitString "```" (lib.elemAt (lib.splitString "```nix\n" section) 1));
          hostModule = import (builtins.toFile "docs-monitoring-host.nix" block);
          host =
            (lib.evalModules {
              modules = [
                stubs.nixosModule
                ../../nix/module.nix
                { _module.args.pkgs = stubs.pkgs; }
                # What nixpkgs' Prometheus, Alertmanager and Grafana modules declare, loosely.
                {
                  options.services.prometheus = {
                    enable = lib.mkEnableOption "prometheus";
                    port = lib.mkOption { default = 9090; };
                    listenAddress = lib.mkOption { type = lib.types.str; };
                    alertmanagers = lib.mkOption { type = lib.types.listOf lib.types.anything; };
                    alertmanager = lib.mkOption { type = lib.types.attrsOf lib.types.anything; };
                  };
                  options.services.grafana = {
                    enable = lib.mkEnableOption "grafana";
                    settings = lib.mkOption { type = lib.types.attrsOf lib.types.anything; };
                    provision.datasources = lib.mkOption { type = lib.types.attrsOf lib.types.anything; };
                  };
                }
                hostModule
              ];
            }).config;
        in
        {
          failed = failedAssertions host;
          inherit (host) warnings;
          targets = map (job: (lib.head job.static_configs).targets) host.services.prometheus.scrapeConfigs;
          rules = lib.length host.services.prometheus.ruleFiles;
          dashboards = map (p: p.name) host.services.grafana.provision.dashboards.settings.providers;
          datasource = (lib.head host.services.grafana.provision.datasources.settings.datasources).url;
        };
      expected = {
        failed = [ ];
        warnings = [ ];
        targets = [ [ "127.0.0.1:9000" ] ];
        rules = 1;
        dashboards = [ "unified-llm" ];
        datasource = "http://127.0.0.1:9090";
      };
    };

    testGrafanaProvisionsTheDashboardDirectory = {
      expr =
        let
          providers =
            (evalHost {
              enable = true;
              grafana.dashboard = true;
            }).services.grafana.provision.dashboards.settings.providers;
        in
        {
          providers = map (p: removeAttrs p [ "options" ]) providers;
          dashboards = map (p: lib.attrNames (builtins.readDir p.options.path)) providers;
          # Left null, so a host provisioning dashboards through dashboards.path keeps working.
          off = (evalHost { enable = true; }).services.grafana.provision.dashboards.settings;
        };
      expected = {
        providers = [
          {
            name = "unified-llm";
            type = "file";
          }
        ];
        dashboards = [ [ "unified-llm.json" ] ];
        off = null;
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
          settings.server.tcp_listen = "0.0.0.0:9000";
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
          settings.server.tcp_listen = address;
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
            settings.server.tcp_listen = address;
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

    # A fleet: peers become [peers.NAME] tables whose keys arrive as systemd credentials peer-NAME.
    testPeersRenderTablesAndTheirKeysAsCredentials = {
      expr =
        let
          host = evalHost {
            enable = true;
            credentials.anthropic = "/run/secrets/anthropic-key";
            peers.gpu2 = {
              url = "http://10.0.0.2:9000";
              keyFile = "/run/keys/ullm-peer-gpu2";
            };
            peers.gpu3 = {
              url = "https://gpu3.example:9000";
              keyFile = "/run/keys/ullm-peer-gpu3";
              pollIntervalSeconds = 0.5;
            };
          };
        in
        {
          failed = failedAssertions host;
          inherit (host.services.unified-llm.settings) peers;
          inherit (host.systemd.services.unified-llm.serviceConfig) LoadCredential;
          minimalHasNoPeersTable = minimal.services.unified-llm.settings ? peers;
        };
      expected = {
        failed = [ ];
        peers = {
          gpu2 = {
            url = "http://10.0.0.2:9000";
            api_key_credential = "peer-gpu2";
          };
          gpu3 = {
            url = "https://gpu3.example:9000";
            api_key_credential = "peer-gpu3";
            poll_interval_seconds = 0.5;
          };
        };
        LoadCredential = [
          "anthropic:/run/secrets/anthropic-key"
          "peer-gpu2:/run/keys/ullm-peer-gpu2"
          "peer-gpu3:/run/keys/ullm-peer-gpu3"
        ];
        minimalHasNoPeersTable = false;
      };
    };

    # A peer's key file is a host path (never copied to the store) and its URL a plain http(s) address.
    testBadPeersAreRejected = {
      expr = map rejects [
        {
          enable = true;
          peers.gpu2 = {
            url = "http://10.0.0.2:9000";
            keyFile = ./stubs.nix;
          };
        }
        {
          enable = true;
          peers.gpu2 = {
            url = "ftp://10.0.0.2:9000";
            keyFile = "/run/keys/k";
          };
        }
        {
          enable = true;
          peers.gpu2 = {
            url = "http://user:pw@10.0.0.2:9000";
            keyFile = "/run/keys/k";
          };
        }
      ];
      expected = [
        true
        true
        true
      ];
    };

    # llama.cpp RPC: a worker renders [rpc_worker] and opens its port to the listed heads only, with
    # either firewall; a head renders [rpc_workers.NAME].
    testRpcWorkerRendersItsTableAndOpensThePortToItsPeersOnly =
      let
        worker = {
          enable = true;
          rpcWorker = {
            enable = true;
            listen = "10.0.0.7:50052";
            devices = [ "CUDA0" ];
            allowedPeers = [
              "10.0.0.2"
              "10.0.1.0/24"
            ];
          };
        };
        iptables = evalHost worker;
        nftables = evalNftablesHost worker;
      in
      {
        expr = {
          failed = failedAssertions iptables;
          table = iptables.services.unified-llm.settings.rpc_worker;
          inherit (iptables.networking.firewall) extraCommands allowedTCPPorts;
          nftablesRules = nftables.networking.firewall.extraInputRules;
          nftablesCommands = nftables.networking.firewall.extraCommands;
          minimalHasNoRpcTables = minimal.services.unified-llm.settings ? rpc_worker || minimal.services.unified-llm.settings ? rpc_workers;
          minimalRules = minimal.networking.firewall.extraCommands + minimal.networking.firewall.extraInputRules;
        };
        expected = {
          failed = [ ];
          table = {
            listen = "10.0.0.7:50052";
            devices = [ "CUDA0" ];
          };
          extraCommands = ''
            iptables -A nixos-fw -p tcp -s 10.0.0.2 --dport 50052 -j nixos-fw-accept
            iptables -A nixos-fw -p tcp -s 10.0.1.0/24 --dport 50052 -j nixos-fw-accept
          '';
          allowedTCPPorts = [ ];
          nftablesRules = ''
            ip saddr { 10.0.0.2, 10.0.1.0/24 } tcp dport 50052 accept comment "unified-llm rpc worker"
          '';
          nftablesCommands = "";
          minimalHasNoRpcTables = false;
          minimalRules = "";
        };
      };

    testRpcWorkersOfAHeadRenderTheirTables = {
      expr =
        let
          head = evalHost {
            enable = true;
            rpcWorkers.gpu7.address = "10.0.0.7:50052";
            rpcWorkers.gpu8 = {
              address = "gpu8.lan:50052";
              memoryLimitMib = 20480;
              pollIntervalSeconds = 2;
            };
          };
        in
        {
          failed = failedAssertions head;
          inherit (head.services.unified-llm.settings) rpc_workers;
        };
      expected = {
        failed = [ ];
        rpc_workers = {
          gpu7.address = "10.0.0.7:50052";
          gpu8 = {
            address = "gpu8.lan:50052";
            memory_limit_mib = 20480;
            poll_interval_seconds = 2;
          };
        };
      };
    };

    # An IPv6 or malformed listen address fails an assertion; a worker without peers is warned about.
    testBadRpcWorkersAreRefused = {
      expr =
        let
          worker = listen: allowedPeers: evalHost {
            enable = true;
            rpcWorker = {
              enable = true;
              inherit listen allowedPeers;
            };
          };
        in
        {
          ipv6 = lib.length (failedAssertions (worker "[::1]:50052" [ ]));
          noPort = lib.length (failedAssertions (worker "10.0.0.7" [ ]));
          closedWarning = (worker "10.0.0.7:50052" [ ]).warnings;
          # The firewall reads the peers, so that is where the type error shows.
          badPeer =
            !(builtins.tryEval (
              builtins.deepSeq (evalHost {
                enable = true;
                rpcWorker = {
                  enable = true;
                  listen = "10.0.0.7:50052";
                  allowedPeers = [ "gpu2.lan" ];
                };
              }).networking.firewall.extraCommands true
            )).success;
          badAddress = rejects {
            enable = true;
            rpcWorkers.gpu7.address = "10.0.0.7";
          };
        };
      expected = {
        ipv6 = 1;
        noPort = 1;
        closedWarning = [
          "services.unified-llm.rpcWorker listens on 10.0.0.7:50052, but rpcWorker.allowedPeers is empty, so the firewall lets no head reach it."
        ];
        badPeer = true;
        badAddress = true;
      };
    };

    # vLLM across nodes: the pipeline stages and the Ray head, as ullmd's keys.
    testVllmModelSplitOverARayCluster = {
      expr =
        let
          host = evalHost {
            enable = true;
            backends.vllm.enable = true;
            models.big = {
              backend = "vllm";
              source = "/var/lib/unified-llm/models/big";
              pipelineParallelSize = 2;
              rayAddress = "10.0.0.1:6379";
            };
          };
        in
        {
          failed = failedAssertions host;
          inherit (host.services.unified-llm.settings.models.big) pipeline_parallel_size ray_address;
        };
      expected = {
        failed = [ ];
        pipeline_parallel_size = 2;
        ray_address = "10.0.0.1:6379";
      };
    };

    # Ray for vLLM across nodes: the head's unit and argv, its firewall open to the other nodes only (every TCP port,
    # with either firewall), and ullmd's ray_address and vLLM executable from the same options.
    testRayHeadRendersItsUnitTheClusterAddressAndTheFirewall =
      let
        head = {
          enable = true;
          backends.vllm.enable = true;
          models.big = {
            backend = "vllm";
            source = "/var/lib/unified-llm/models/big";
            pipelineParallelSize = 2;
          };
          ray = {
            enable = true;
            role = "head";
            headAddress = "10.0.0.1";
            package = noSwitches "ray-vllm-env";
            allowedPeers = [
              "10.0.0.2"
              "10.0.1.0/24"
            ];
            extraArgs = [
              "--num-gpus"
              "8"
            ];
          };
        };
        iptables = evalHost head;
        nftables = evalNftablesHost head;
        unit = iptables.systemd.services.unified-llm-ray;
        env = fakeStorePath "ray-vllm-env";
      in
      {
        expr = {
          failed = failedAssertions iptables;
          inherit (iptables) warnings;
          model = iptables.services.unified-llm.settings.models.big;
          vllmExecutable = iptables.services.unified-llm.settings.backends.vllm.executable;
          inherit (unit)
            wantedBy
            after
            before
            environment
            ;
          inherit (unit.serviceConfig)
            ExecStart
            Slice
            Restart
            DynamicUser
            StateDirectory
            ;
          slice = iptables.systemd.slices.ullm.description;
          inherit (iptables.networking.firewall) extraCommands allowedTCPPorts;
          nftablesRules = nftables.networking.firewall.extraInputRules;
          nftablesCommands = nftables.networking.firewall.extraCommands;
          minimalHasNoRayUnit = minimal.systemd.services ? unified-llm-ray;
        };
        expected = {
          failed = [ ];
          warnings = [ ];
          model = {
            backend = "vllm";
            source = "/var/lib/unified-llm/models/big";
            aliases = [ ];
            pinned = false;
            gpu_layers = "auto";
            extra_args = [ ];
            pipeline_parallel_size = 2;
            ray_address = "10.0.0.1:6379";
          };
          vllmExecutable = "${env}/bin/vllm";
          wantedBy = [ "multi-user.target" ];
          after = [ "network-online.target" ];
          before = [ "unified-llm.service" ];
          environment.HOME = "/var/lib/unified-llm-ray";
          ExecStart = quoted [
            "${env}/bin/ray"
            "start"
            "--block"
            "--disable-usage-stats"
            "--head"
            "--port"
            "6379"
            "--node-ip-address"
            "10.0.0.1"
            "--num-gpus"
            "8"
          ];
          Slice = "ullm.slice";
          Restart = "always";
          DynamicUser = true;
          StateDirectory = "unified-llm-ray";
          slice = "unified-llm backends";
          extraCommands = ''
            iptables -A nixos-fw -p tcp -s 10.0.0.2 -j nixos-fw-accept
            iptables -A nixos-fw -p tcp -s 10.0.1.0/24 -j nixos-fw-accept
          '';
          allowedTCPPorts = [ ];
          nftablesRules = ''
            ip saddr { 10.0.0.2, 10.0.1.0/24 } ip protocol tcp accept comment "unified-llm ray"
          '';
          nftablesCommands = "";
          minimalHasNoRayUnit = false;
        };
      };

    # A worker node runs Ray without ullmd (the slice and the firewall still come); one that also runs ullmd as an RPC
    # worker gets both firewall openings, and a warning that Ray's GPUs are not ullmd's to plan.
    testRayWorkerRunsWithOrWithoutUllmd =
      let
        ray = {
          enable = true;
          role = "worker";
          headAddress = "10.0.0.1";
          port = 6380;
          nodeAddress = "10.0.0.2";
          package = noSwitches "ray-vllm-env";
          allowedPeers = [ "10.0.0.1" ];
        };
        alone = evalHost { inherit ray; };
        withUllmd = evalHost {
          enable = true;
          inherit ray;
          rpcWorker = {
            enable = true;
            listen = "10.0.0.2:50052";
            allowedPeers = [ "10.0.0.1" ];
          };
        };
      in
      {
        expr = {
          failed = failedAssertions alone;
          inherit (alone) warnings;
          execStart = alone.systemd.services.unified-llm-ray.serviceConfig.ExecStart;
          inherit (alone.systemd.services.unified-llm-ray) before;
          services = lib.attrNames alone.systemd.services;
          slices = lib.attrNames alone.systemd.slices;
          etc = lib.attrNames alone.environment.etc;
          aloneCommands = alone.networking.firewall.extraCommands;
          withUllmdFailed = failedAssertions withUllmd;
          withUllmdWarnings = withUllmd.warnings;
          withUllmdBefore = withUllmd.systemd.services.unified-llm-ray.before;
          withUllmdCommands = withUllmd.networking.firewall.extraCommands;
        };
        expected = {
          failed = [ ];
          warnings = [ ];
          execStart = quoted [
            "${fakeStorePath "ray-vllm-env"}/bin/ray"
            "start"
            "--block"
            "--disable-usage-stats"
            "--address"
            "10.0.0.1:6380"
            "--node-ip-address"
            "10.0.0.2"
          ];
          before = [ ];
          services = [ "unified-llm-ray" ];
          slices = [ "ullm" ];
          etc = [ ];
          aloneCommands = ''
            iptables -A nixos-fw -p tcp -s 10.0.0.1 -j nixos-fw-accept
          '';
          withUllmdFailed = [ ];
          withUllmdWarnings = [
            "services.unified-llm.ray.role is \"worker\" on a host that also runs ullmd: Ray's vLLM workers use this host's GPUs, and ullmd's planner does not see them; keep ullmd's models off those GPUs (settings.gpu.allowed)."
          ];
          withUllmdBefore = [ "unified-llm.service" ];
          withUllmdCommands = ''
            iptables -A nixos-fw -p tcp -s 10.0.0.1 --dport 50052 -j nixos-fw-accept

            iptables -A nixos-fw -p tcp -s 10.0.0.1 -j nixos-fw-accept
          '';
        };
      };

    # Every contradiction fails its own assertion, with a message naming the options; no unit is rendered from
    # half an answer. A rayAddress equal to the cluster's, or "auto", is accepted.
    testRayContradictionsAreRefused =
      let
        ray = {
          enable = true;
          role = "head";
          headAddress = "10.0.0.1";
          package = noSwitches "ray-vllm-env";
          allowedPeers = [ "10.0.0.2" ];
        };
        vllmHost = extra: model: {
          enable = true;
          backends.vllm.enable = true;
          models.big = {
            backend = "vllm";
            source = "/var/lib/unified-llm/models/big";
            pipelineParallelSize = 2;
          } // model;
        } // extra;
        messages = host: failedAssertions (evalHost host);
        hasUnit = host: (evalHost host).systemd.services ? unified-llm-ray;
        noPackage = { ray = removeAttrs ray [ "package" ]; };
        workerWithoutHead = {
          ray = removeAttrs ray [ "headAddress" ] // { role = "worker"; };
        };
      in
      {
        expr = {
          noPackage = messages noPackage;
          noPackageUnit = hasUnit noPackage;
          workerWithoutHead = messages workerWithoutHead;
          workerWithoutHeadUnit = hasUnit workerWithoutHead;
          headWithoutAddress = messages { ray = removeAttrs ray [ "headAddress" ]; };
          headWithOtherNodeAddress = messages { ray = ray // { nodeAddress = "10.0.0.9"; }; };
          otherRayAddress = messages (vllmHost { inherit ray; } { rayAddress = "10.0.0.5:6379"; });
          sameRayAddress = messages (vllmHost { inherit ray; } { rayAddress = "10.0.0.1:6379"; });
          autoRayAddress = (evalHost (vllmHost { inherit ray; } { rayAddress = "auto"; })).services.unified-llm.settings.models.big.ray_address;
          stagesWithoutRay = messages (vllmHost { } { });
          stagesWithOwnAddress = messages (vllmHost { } { rayAddress = "10.0.0.5:6379"; });
          closedWarning = (evalHost { ray = ray // { allowedPeers = [ ]; }; }).warnings;
          # The firewall reads the peers, so that is where the type error shows.
          badPeer =
            !(builtins.tryEval (
              builtins.deepSeq (evalHost { ray = ray // { allowedPeers = [ "gpu2.lan" ]; }; }).networking.firewall.extraCommands true
            )).success;
          badHeadAddress =
            !(builtins.tryEval (
              builtins.deepSeq (evalHost { ray = ray // { headAddress = "gpu1.lan"; }; }).systemd.services.unified-llm-ray true
            )).success;
        };
        expected = {
          noPackage = [
            "services.unified-llm.ray.enable needs ray.package: a Python environment holding both ray and vllm, the same on every node of the cluster (e.g. pkgs.python3.withPackages (ps: [ ps.ray ps.vllm ]))."
          ];
          noPackageUnit = false;
          workerWithoutHead = [
            "services.unified-llm.ray.role is \"worker\", but ray.headAddress is not set: a worker joins the cluster at HEAD:PORT (--address)."
          ];
          workerWithoutHeadUnit = false;
          headWithoutAddress = [
            "services.unified-llm.ray.role is \"head\", but ray.headAddress is not set: the head binds Ray to that address (--node-ip-address) and the workers and vLLM reach it there."
          ];
          headWithOtherNodeAddress = [
            "services.unified-llm.ray.nodeAddress is \"10.0.0.9\" on the head, whose address is ray.headAddress \"10.0.0.1\": leave nodeAddress unset on the head."
          ];
          otherRayAddress = [
            "services.unified-llm.models.big.rayAddress is \"10.0.0.5:6379\", but this host is a node of the Ray cluster at 10.0.0.1:6379 (ray.headAddress, ray.port): leave rayAddress unset and the module fills it in."
          ];
          sameRayAddress = [ ];
          autoRayAddress = "auto";
          stagesWithoutRay = [
            "services.unified-llm.models.big.pipelineParallelSize is 2: a Ray cluster runs its stages. Make this host a node of it (services.unified-llm.ray) or set models.big.rayAddress."
          ];
          stagesWithOwnAddress = [ ];
          closedWarning = [
            "services.unified-llm.ray is enabled, but ray.allowedPeers is empty, so the firewall lets no other node of the cluster reach this one."
          ];
          badPeer = true;
          badHeadAddress = true;
        };
      };

    # The cluster of docs/multi-host.md ("Ray nodes with the NixOS module"), its nix block as written there: each node
    # builds (no assertion, no warning), with the argv, firewall and ray_address the text describes.
    testRayClusterOfTheDocsEvaluatesAsDescribed =
      let
        section = lib.last (lib.splitString "### Ray nodes with the NixOS module" (builtins.readFile ../../docs/multi-host.md));
        block = lib.head (lib.splitString "\n```" (lib.elemAt (lib.splitString "```nix\n" section) 1));
        fleet = import (builtins.toFile "ray-cluster.nix" block);
        pkgs = stubs.pkgs // {
          python3.withPackages = _: noSwitches "python3-env";
        };
        node =
          imports:
          let
            config =
              (lib.evalModules {
                modules = [
                  stubs.nixosModule
                  ../../nix/module.nix
                  { _module.args.pkgs = pkgs; }
                ] ++ imports.imports;
              }).config;
          in
          {
            failed = failedAssertions config;
            inherit (config) warnings;
            execStart = config.systemd.services.unified-llm-ray.serviceConfig.ExecStart;
            firewall = config.networking.firewall.extraCommands;
            rayAddress = config.services.unified-llm.settings.models.big.ray_address or null;
          };
        ray = "${fakeStorePath "python3-env"}/bin/ray";
        worker = self: head: other: {
          failed = [ ];
          warnings = [ ];
          execStart = quoted [
            ray
            "start"
            "--block"
            "--disable-usage-stats"
            "--address"
            "10.0.0.1:6379"
            "--node-ip-address"
            self
          ];
          firewall = ''
            iptables -A nixos-fw -p tcp -s ${head} -j nixos-fw-accept
            iptables -A nixos-fw -p tcp -s ${other} -j nixos-fw-accept
          '';
          rayAddress = null;
        };
      in
      {
        expr = lib.mapAttrs (_: node) fleet;
        expected = {
          gpu1 = {
            failed = [ ];
            warnings = [ ];
            execStart = quoted [
              ray
              "start"
              "--block"
              "--disable-usage-stats"
              "--head"
              "--port"
              "6379"
              "--node-ip-address"
              "10.0.0.1"
            ];
            firewall = ''
              iptables -A nixos-fw -p tcp -s 10.0.0.2 -j nixos-fw-accept
              iptables -A nixos-fw -p tcp -s 10.0.0.3 -j nixos-fw-accept
            '';
            rayAddress = "10.0.0.1:6379";
          };
          gpu2 = worker "10.0.0.2" "10.0.0.1" "10.0.0.3";
          gpu3 = worker "10.0.0.3" "10.0.0.1" "10.0.0.2";
        };
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

    # Typed paths: absolute, and strings (a path literal would copy the secret into the store).
    testRelativeOrStoreCopiedPathsAreRejected = {
      expr = map rejects [
        {
          enable = true;
          credentials.openai = "secrets/openai";
        }
        {
          enable = true;
          credentials.openai = ./stubs.nix;
        }
        {
          enable = true;
          environmentFile = "unified-llm.env";
        }
        {
          enable = true;
          environmentFile = ./stubs.nix;
        }
        {
          enable = true;
          settings.server.data_dir = "ullm-data";
        }
        {
          enable = true;
          settings.gpu.nvml_library = "libnvidia-ml.so.1";
        }
      ];
      expected = [
        true
        true
        true
        true
        true
        true
      ];
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
            settings.server.tcp_listen = "127.0.0.1:9000";
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
          settings.server.admin_group = "LLM Admins";
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

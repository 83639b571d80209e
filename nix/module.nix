{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  inherit (lib)
    literalExpression
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    mkPackageOption
    types
    ;

  cfg = config.services.unified-llm;
  settingsFormat = pkgs.formats.toml { };
  renderedConfig = settingsFormat.generate "unified-llm.toml" cfg.settings;

  # ullmd's own validation at build time: a configuration it would refuse never reaches the host.
  # The loader only parses and cross-checks, it reads no other file, so it runs in the sandbox,
  # locally (nothing to substitute), on the build machine: checkConfig defaults to off when that
  # machine cannot run the host's ullmd.
  checkedConfig =
    pkgs.runCommandLocal "unified-llm-checked.toml"
      {
        nativeBuildInputs = [ cfg.package ];
      }
      ''
        HOME="$TMPDIR" ullmd --check --config ${renderedConfig}
        cp ${renderedConfig} "$out"
      '';

  configFile = if cfg.checkConfig then checkedConfig else renderedConfig;

  # ullmd reads the configuration from /etc, so the unit itself does not change with it: a settings
  # change reloads ullmd (SIGHUP, atomic with rollback) instead of restarting it and every model.
  configPath = "/etc/unified-llm/config.toml";

  # The [server] keys ullmd cannot change while running (daemon/Config/ConfigHolder.cs rejects a
  # reload that changes them): a change to one of them restarts the unit.
  restartOnlyServerKeys = [
    "openai_socket"
    "openai_socket_mode"
    "tcp_listen"
    "admin_socket"
    "admin_group"
    "data_dir"
    "supervisor"
    "systemd_address"
    "io_scheduling"
    "tls_certificate"
    "tls_certificate_credential"
    "tls_key"
    "tls_key_credential"
    "tls_client_ca"
    "allow_plaintext"
  ];
  restartOnlySettings = lib.filterAttrs (key: _: lib.elem key restartOnlyServerKeys) cfg.settings.server;

  stateDirectory = "/var/lib/unified-llm";
  dataDir = cfg.settings.server.data_dir;
  dataDirIsState = dataDir == stateDirectory || lib.hasPrefix "${stateDirectory}/" dataDir;

  # Character devices ullmd opens itself: NVML needs /dev/nvidiactl and /dev/nvidia0.. (the
  # "nvidia-frontend" major) and, for MIG, /dev/nvidia-caps/*. Backends under the systemd supervisor
  # are units of their own and do not inherit this; under the process supervisor they are ullmd's
  # children in its cgroup, so they also get what CUDA and ROCm open.
  nvmlDevices = [
    "char-nvidia-frontend rw"
    "char-nvidia-caps r"
  ];
  backendDevices = [
    "char-nvidia-uvm rw"
    "char-drm rw"
    "char-kfd rw"
  ];
  processSupervisor = (cfg.settings.server.supervisor or "auto") == "process";

  # Names a model or alias may claim once (ullmd's config loader refuses the same, at build time
  # only when checkConfig is on): the rendered [models] and [routes], whoever set them.
  renderedModels = cfg.settings.models or { };
  modelNameClaims = lib.concatLists (
    lib.mapAttrsToList (name: model: map (claim: { inherit name claim; }) ([ name ] ++ (model.aliases or [ ]))) renderedModels
  );
  claimsOf = claim: lib.unique (map (c: c.name) (lib.filter (c: c.claim == claim) modelNameClaims));
  duplicateClaims = lib.filter (claim: lib.length (claimsOf claim) > 1) (lib.unique (map (c: c.claim) modelNameClaims));
  routeClashes = lib.filter (route: claimsOf route != [ ]) (lib.attrNames (cfg.settings.routes or { }));

  observabilityDirectory = ../packaging/observability;
  # Prometheus cannot scrape a unix socket: the scrape job reads /metrics on the TCP listener, on
  # loopback when ullmd listens on every address.
  scrapeTarget =
    let
      parts = parseListen tcpListen;
      host = lib.head parts;
      port = lib.last parts;
    in
    if host == "0.0.0.0" then
      "127.0.0.1:${port}"
    else if host == "[::]" then
      "[::1]:${port}"
    else
      tcpListen;

  backendNames = [
    "llamacpp"
    "ollama"
    "vllm"
  ];

  # The program each backend package provides, as ullmd's [backends.NAME] executable.
  backendPrograms = {
    llamacpp = "llama-server";
    ollama = "ollama";
    vllm = "vllm";
  };

  # nixpkgs spells the GPU switch differently per package (llama-cpp and vllm: cudaSupport /
  # rocmSupport; ollama: acceleration). Only the switches a package declares are passed.
  accelerationArguments = acceleration: {
    inherit acceleration;
    cudaSupport = acceleration == "cuda";
    rocmSupport = acceleration == "rocm";
  };

  acceleratedArguments =
    package: lib.intersectAttrs (lib.functionArgs package.override) (accelerationArguments cfg.acceleration);

  backendPackage =
    name:
    let
      package = cfg.backends.${name}.package;
    in
    if cfg.acceleration == null then package else package.override (acceleratedArguments package);

  enabledBackends = lib.filter (name: cfg.backends.${name}.enable) backendNames;

  # On a Ray node the vLLM engine comes from the Ray environment, so that vLLM here and in Ray's workers is one build.
  backendExecutable =
    name:
    if name == "vllm" && rayWithPackage then
      "${cfg.ray.package}/bin/vllm"
    else
      "${backendPackage name}/bin/${backendPrograms.${name}}";

  renderBackend =
    name:
    {
      enabled = cfg.backends.${name}.enable;
    }
    // lib.optionalAttrs cfg.backends.${name}.enable {
      executable = backendExecutable name;
    };

  # A path literal is copied into the store (that is what a flake-local model file wants);
  # a string is used as written, and a package by its store path.
  renderSource = source: if builtins.isString source then source else "${source}";

  renderModel =
    model:
    lib.filterAttrs (_: value: value != null) {
      inherit (model)
        backend
        aliases
        context
        priority
        pinned
        ;
      source = renderSource model.source;
      gpu_layers = model.gpuLayers;
      ttl_seconds = model.ttlSeconds;
      extra_args = model.extraArgs;
      pipeline_parallel_size = model.pipelineParallelSize;
      ray_address = if model.rayAddress == null && splitOverRay model then rayClusterAddress else model.rayAddress;
    };

  # A vLLM model whose pipeline stages run on the Ray cluster's nodes.
  splitOverRay = model: model.backend == "vllm" && model.pipelineParallelSize != null && model.pipelineParallelSize > 1;

  # Ray: one cluster address for the units and ullmd's ray_address, so the two cannot disagree.
  rayWithPackage = cfg.ray.enable && cfg.ray.package != null;
  rayHead = cfg.ray.role == "head";
  rayClusterAddress = if cfg.ray.enable && cfg.ray.headAddress != null then "${cfg.ray.headAddress}:${toString cfg.ray.port}" else null;
  rayCommand =
    [
      "${cfg.ray.package}/bin/ray"
      "start"
      "--block"
      "--disable-usage-stats"
    ]
    ++ (
      if rayHead then
        [
          "--head"
          "--port"
          (toString cfg.ray.port)
          "--node-ip-address"
          cfg.ray.headAddress
        ]
      else
        [
          "--address"
          rayClusterAddress
        ]
        ++ lib.optionals (cfg.ray.nodeAddress != null) [
          "--node-ip-address"
          cfg.ray.nodeAddress
        ]
    )
    ++ cfg.ray.extraArgs;

  # A peer's key reaches ullmd as the systemd credential peer-NAME.
  peerCredential = name: "peer-${name}";
  renderPeer =
    name: peer:
    lib.filterAttrs (_: value: value != null) {
      inherit (peer) url;
      api_key_credential = peerCredential name;
      poll_interval_seconds = peer.pollIntervalSeconds;
    };

  peerOptions = {
    options = {
      url = mkOption {
        type = types.strMatching "https?://[^/?#@]+/?";
        example = "https://gpu2.example:9000";
        description = "The peer's OpenAI listener (its `settings.server.tcp_listen`), `http(s)://HOST:PORT`.";
      };
      keyFile = mkOption {
        type = hostPath;
        example = "/run/keys/ullm-peer-gpu2";
        description = ''
          A file with an API key made on the peer (`ullmctl keys create`), passed as the systemd credential
          `peer-NAME` and named by `api_key_credential`. An absolute path string, so the key never enters the Nix store.
        '';
      };
      pollIntervalSeconds = mkOption {
        type = types.nullOr (types.either types.ints.positive types.float);
        default = null;
        description = "How often the peer's status is read; null leaves ullmd's default (2 s).";
      };
    };
  };

  # A head's llama.cpp RPC workers, as [rpc_workers.NAME].
  renderRpcWorker =
    worker:
    lib.filterAttrs (_: value: value != null) {
      inherit (worker) address;
      memory_limit_mib = worker.memoryLimitMib;
      poll_interval_seconds = worker.pollIntervalSeconds;
    };

  rpcWorkerOptions = {
    options = {
      address = mkOption {
        type = types.strMatching "[A-Za-z0-9.-]+:[0-9]{1,5}";
        example = "10.0.0.7:50052";
        description = "The worker's ggml-rpc-server, `HOST:PORT` (its `rpcWorker.listen`).";
      };
      memoryLimitMib = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
        description = "The most the planner puts on each of the worker's devices; null: what the worker reports free.";
      };
      pollIntervalSeconds = mkOption {
        type = types.nullOr (types.either types.ints.positive types.float);
        default = null;
        description = "How often the worker's devices are read; null leaves ullmd's default (5 s).";
      };
    };
  };

  rpcListen = cfg.rpcWorker.listen;
  rpcPort = tcpPort rpcListen;
  rpcFirewallOpen = cfg.rpcWorker.enable && cfg.rpcWorker.allowedPeers != [ ] && isListenAddress rpcListen && !isLoopback rpcListen;

  # A firewall opening for some peers only: { peers; port (null: every TCP port); comment; }. nftables
  # (networking.nftables.enable) takes extraInputRules; the iptables firewall takes extraCommands.
  peerOpeningFor = opening: {
    networking.firewall.extraInputRules = mkIf config.networking.nftables.enable ''
      ip saddr { ${lib.concatStringsSep ", " opening.peers} } ${
        if opening.port == null then "ip protocol tcp" else "tcp dport ${toString opening.port}"
      } accept comment "${opening.comment}"
    '';
    networking.firewall.extraCommands = mkIf (!config.networking.nftables.enable) (
      lib.concatMapStrings (peer: ''
        iptables -A nixos-fw -p tcp -s ${peer}${
          lib.optionalString (opening.port != null) " --dport ${toString opening.port}"
        } -j nixos-fw-accept
      '') opening.peers
    );
  };
  ipv4Peers = types.listOf (types.strMatching "[0-9]{1,3}([.][0-9]{1,3}){3}(/[0-9]{1,2})?");
  ipv4Address = types.strMatching "[0-9]{1,3}([.][0-9]{1,3}){3}";

  # ullmd takes "IP:PORT" (IPv6 in brackets), no host names: [ ip port ] or null.
  parseListen = builtins.match "([0-9]{1,3}([.][0-9]{1,3}){3}|[[][0-9A-Fa-f:.]+[]]):([0-9]{1,5})";
  isListenAddress =
    address:
    let
      parts = parseListen address;
      port = lib.toIntBase10 (lib.last parts);
    in
    parts != null && port >= 1 && port <= 65535;
  tcpPort = address: lib.toIntBase10 (lib.last (parseListen address));
  isLoopback =
    address:
    let
      host = lib.head (parseListen address);
    in
    isListenAddress address && (host == "[::1]" || lib.hasPrefix "127." host);

  # ullmd's rule for model names and aliases.
  isSafeName = name: builtins.match "[A-Za-z0-9][A-Za-z0-9._:-]{0,63}" name != null && !lib.hasInfix ".." name;

  tcpListen = cfg.settings.server.tcp_listen;

  isAbsolute = path: lib.hasPrefix "/" path;

  # Secrets and host paths: absolute, and strings rather than path literals, so nothing is copied
  # into the world-readable store.
  hostPath = types.pathWith {
    inStore = false;
    absolute = true;
  };


  modelOptions =
    { name, ... }:
    {
      options = {
        backend = mkOption {
          type = types.enum backendNames;
          default = "llamacpp";
          description = "Backend that serves model `${name}`; it must be enabled under `services.unified-llm.backends`.";
        };
        source = mkOption {
          type = types.oneOf [
            types.package
            types.path
            types.str
          ];
          example = literalExpression ''"/var/lib/unified-llm/models/qwen2.5-7b-instruct-q4_k_m.gguf"'';
          description = ''
            The model. llamacpp: the absolute path of a GGUF file (the first part of a split GGUF);
            ollama and vllm: also a model name of that backend. A string is used as written (a path
            in it is not copied to the store); a path literal is copied into the Nix store; a package
            (e.g. a `fetchurl` of a GGUF file) is used by its store path.
          '';
        };
        aliases = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Other names clients may request this model by.";
        };
        context = mkOption {
          type = types.nullOr (types.ints.between 1 16777216);
          default = null;
          description = "Context length in tokens; null leaves it to ullmd (the model's trained context).";
        };
        gpuLayers = mkOption {
          type = types.either (types.ints.between 0 100000) (types.enum [ "auto" ]);
          default = "auto";
          description = ''Layers to offload to the GPU, or `"auto"` to let ullmd size it from free GPU memory.'';
        };
        ttlSeconds = mkOption {
          type = types.nullOr (types.ints.between 0 31536000);
          default = null;
          description = "Idle seconds before the model is unloaded (0: never); null leaves ullmd's default.";
        };
        priority = mkOption {
          type = types.nullOr (types.ints.between (-1000) 1000);
          default = null;
          description = "Eviction priority (-1000..1000): higher survives longer. null leaves ullmd's default.";
        };
        pinned = mkOption {
          type = types.bool;
          default = false;
          description = "Load at start and never evict.";
        };
        pipelineParallelSize = mkOption {
          type = types.nullOr (types.ints.between 1 64);
          default = null;
          description = "vLLM only: pipeline stages, one per node of the Ray cluster at `rayAddress` (see docs/multi-host.md); null: this host only.";
        };
        rayAddress = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "10.0.0.1:6379";
          description = "vLLM only, with `pipelineParallelSize` above 1: the Ray head (`HOST:PORT`) or `auto`, passed to vLLM as `RAY_ADDRESS`.";
        };
        extraArgs = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Extra command-line arguments for this model's backend process.";
        };
      };
    };

  backendOptions =
    {
      displayName,
      packageName,
      enableByDefault,
    }:
    {
      enable = mkEnableOption "the ${displayName} backend" // {
        default = enableByDefault;
      };
      package = mkPackageOption pkgs packageName { };
    };
in
{
  # One option per setting (RFC 42): these three live under `settings` now.
  imports = [
    (lib.mkChangedOptionModule [ "services" "unified-llm" "listen" "tcp" ] [ "services" "unified-llm" "settings" "server" "tcp_listen" ] (
      config:
      let
        address = lib.getAttrFromPath [ "services" "unified-llm" "listen" "tcp" ] config;
      in
      if address == null then "" else address
    ))
    (lib.mkRenamedOptionModule [ "services" "unified-llm" "adminGroup" ] [ "services" "unified-llm" "settings" "server" "admin_group" ])
    (lib.mkRenamedOptionModule [ "services" "unified-llm" "gpu" "nvmlLibrary" ] [ "services" "unified-llm" "settings" "gpu" "nvml_library" ])
  ];

  meta.maintainers = [ (import ./maintainers.nix).unified-llm ];

  options.services.unified-llm = {
    enable = mkEnableOption "ullmd, the unified-llm daemon serving local and cloud LLMs behind one OpenAI-compatible API";

    package = mkPackageOption pkgs "unified-llm" { };

    checkConfig = mkOption {
      type = types.bool;
      default = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
      defaultText = literalExpression "pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform";
      description = ''
        Check the rendered configuration with `ullmd --check` when the system is built, so that a
        configuration ullmd would refuse fails the build with ullmd's file:line:column errors.
        On by default where the build machine can run the host's ullmd (off when cross-compiling).
      '';
    };

    acceleration = mkOption {
      type = types.nullOr (
        types.enum [
          "cuda"
          "rocm"
        ]
      );
      default = null;
      example = "cuda";
      description = ''
        GPU support to build the enabled backend packages with, applied as a package override
        (`cudaSupport`/`rocmSupport` for llama-cpp and vllm, `acceleration` for ollama).
        null uses the packages as they are.
      '';
    };

    backends = {
      llamacpp = backendOptions {
        displayName = "llama.cpp (llama-server)";
        packageName = "llama-cpp";
        enableByDefault = true;
      };
      ollama = backendOptions {
        displayName = "Ollama";
        packageName = "ollama";
        enableByDefault = false;
      };
      vllm = backendOptions {
        displayName = "vLLM";
        packageName = "vllm";
        enableByDefault = false;
      };
    };

    models = mkOption {
      type = types.attrsOf (types.submodule modelOptions);
      default = { };
      example = literalExpression ''
        {
          qwen = {
            source = "/var/lib/unified-llm/models/qwen2.5-7b-instruct-q4_k_m.gguf";
            aliases = [ "default" ];
            context = 8192;
            ttlSeconds = 900;
          };
        }
      '';
      description = "Models ullmd serves, rendered into `[models.NAME]` of the configuration.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port of `settings.server.tcp_listen` in the firewall.";
    };

    environmentFile = mkOption {
      type = types.nullOr hostPath;
      default = null;
      example = "/run/secrets/unified-llm.env";
      description = ''
        Absolute path of a file of environment variables (e.g. `OPENAI_API_KEY=…` for a provider's
        `api_key_env`), read by systemd at start. A string, not a path literal, so the secret never
        enters the Nix store.
      '';
    };

    peers = mkOption {
      type = types.attrsOf (types.submodule peerOptions);
      default = { };
      example = {
        gpu2 = {
          url = "https://gpu2.example:9000";
          keyFile = "/run/keys/ullm-peer-gpu2";
        };
      };
      description = ''
        Other ullmd hosts this one routes to, rendered as `[peers.NAME]` with `api_key_credential = "peer-NAME"`
        (see docs/multi-host.md). Every host of a fleet imports this module; its peers are what differs.
      '';
    };

    rpcWorker = {
      enable = mkEnableOption "this host as a llama.cpp RPC worker: ullmd keeps ggml-rpc-server running (see docs/multi-host.md)";
      listen = mkOption {
        type = types.str;
        default = "";
        example = "10.0.0.7:50052";
        description = "`IP:PORT` (IPv4) ggml-rpc-server listens on, rendered as `[rpc_worker] listen`; required with `enable`.";
      };
      devices = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "CUDA0" ];
        description = "The devices it exposes (ggml names); empty: every accelerator it finds, else the CPU.";
      };
      executable = mkOption {
        type = types.nullOr hostPath;
        default = null;
        example = "/run/current-system/sw/bin/rpc-server";
        description = ''
          The RPC server program; null: `ggml-rpc-server` on ullmd's PATH. nixpkgs' llama-cpp builds it when overridden
          with `rpcSupport = true`; its name there depends on the llama.cpp release (see docs/multi-host.md).
        '';
      };
      allowedPeers = mkOption {
        type = ipv4Peers;
        default = [ ];
        example = [ "10.0.0.2" ];
        description = ''
          The heads (IPv4 addresses or CIDR ranges) the firewall lets reach the port; no one else can. The RPC protocol
          has no authentication or encryption: keep this list to the heads of a private network.
        '';
      };
    };

    rpcWorkers = mkOption {
      type = types.attrsOf (types.submodule rpcWorkerOptions);
      default = { };
      example = {
        gpu7.address = "10.0.0.7:50052";
      };
      description = "llama.cpp RPC workers this head may split models across, rendered as `[rpc_workers.NAME]`.";
    };

    ray = {
      enable = mkEnableOption "this host as a node of the Ray cluster that vLLM spreads a model's pipeline stages over (`models.NAME.pipelineParallelSize`): a `unified-llm-ray` unit in ullm.slice runs `ray start --block`, with or without ullmd on the host (see docs/multi-host.md)";
      role = mkOption {
        type = types.enum [
          "head"
          "worker"
        ];
        example = "worker";
        description = ''
          `head`: `ray start --head --port PORT --node-ip-address HEAD`, on the host whose ullmd runs the model's
          `vllm serve`; `worker`: `ray start --address HEAD:PORT`, on every other node.
        '';
      };
      headAddress = mkOption {
        type = types.nullOr ipv4Address;
        default = null;
        example = "10.0.0.1";
        description = ''
          The head's IPv4 address, the same on every node: the head binds Ray to it, workers join it, and a vLLM model
          with `pipelineParallelSize` above 1 gets `ray_address = "HEAD:PORT"` from it (a `rayAddress` of its own must
          be unset, `"auto"` or the same). Required.
        '';
      };
      port = mkOption {
        type = types.port;
        default = 6379;
        description = "The head's port (`--port`, Ray's GCS), where workers join.";
      };
      nodeAddress = mkOption {
        type = types.nullOr ipv4Address;
        default = null;
        example = "10.0.0.2";
        description = "A worker's own address on the cluster's network (`--node-ip-address`); null lets Ray choose. Unset on the head.";
      };
      package = mkOption {
        type = types.nullOr types.package;
        default = null;
        example = literalExpression "pkgs.python3.withPackages (ps: [ ps.ray ps.vllm ])";
        description = ''
          A Python environment that holds both ray and vllm, the same on every node: its `bin/ray` runs the node, and
          Ray's workers import vLLM from it to run the other pipeline stages. On a host where ullmd runs vLLM, its
          `bin/vllm` is also `[backends.vllm] executable`, so the engine and the workers are one build. `acceleration`
          is not applied to it: build the environment with CUDA yourself. Required.
        '';
      };
      allowedPeers = mkOption {
        type = ipv4Peers;
        default = [ ];
        example = [
          "10.0.0.2"
          "10.0.0.3"
        ];
        description = ''
          The cluster's other nodes (IPv4 addresses or CIDR ranges). The firewall accepts every TCP port from them and
          from no one else: Ray's node and worker processes and vLLM's NCCL and Gloo connect on ports chosen at run
          time. Ray has no authentication (whoever reaches the head can run code on every node): keep the cluster on a
          private network.
        '';
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [
          "--num-gpus"
          "8"
        ];
        description = "Extra arguments appended to `ray start`.";
      };
    };

    credentials = mkOption {
      type = types.attrsOf hostPath;
      default = { };
      example = {
        anthropic = "/run/secrets/anthropic-api-key";
      };
      description = ''
        systemd credentials, NAME = absolute path, passed as `LoadCredential=NAME:PATH`; a provider
        refers to one with `api_key_credential = "NAME"`, the TCP listener's TLS certificate and key
        with `settings.server.tls_certificate_credential`/`tls_key_credential`. Absolute path strings, not path literals, so
        secrets never enter the Nix store.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra command-line arguments for ullmd.";
    };

    slice = {
      memoryMax = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "48G";
        description = "`MemoryMax=` of ullm.slice: the memory all backends together may use.";
      };
      cpuQuota = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "800%";
        description = "`CPUQuota=` of ullm.slice: the CPU time all backends together may use.";
      };
    };

    prometheus = {
      scrape = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Add a job scraping ullmd's /metrics to `services.prometheus.scrapeConfigs`. It reads the
          TCP listener (`settings.server.tcp_listen`; loopback when that is a wildcard address), the
          one Prometheus can reach: Prometheus has no unix-socket targets.
        '';
      };
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/ullm-prometheus-key";
        description = ''
          A file holding an ullmd API key (`ullmctl keys create --name prometheus`) that the scrape
          job sends as its bearer token (`authorization.credentials_file`): /metrics on TCP needs a
          key. Unset: the module sets `settings.security.metrics_open_on_tcp = true` (at default
          priority) so the job works without one.
        '';
      };
      scrapeInterval = mkOption {
        type = types.strMatching "[0-9]+(ms|s|m|h)";
        default = "15s";
        description = "`scrape_interval` of that job.";
      };
      alertRules = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Add ullmd's alert rules (packaging/observability/prometheus/alerts.yml: ullmd down, a model
          held after crashes or backing off, a breaker open, GPU memory into the reserve, queue
          saturation and 429s, audit rows dropped, TTFT p95) to `services.prometheus.ruleFiles`.
        '';
      };
    };

    grafana.dashboard = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Provision ullmd's Grafana dashboard (packaging/observability/grafana/unified-llm.json)
        through `services.grafana.provision.dashboards`. It queries the default Prometheus data
        source (a `datasource` variable lets you pick another).
      '';
    };

    settings = mkOption {
      default = { };
      description = ''
        ullmd's configuration, rendered to TOML (every key: docs/configuration.md;
        packaging/config.example.toml). Keys not declared here are passed through as written.
        The store is world-readable: give secrets through `environmentFile` or `credentials`.
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          server = {
            data_dir = mkOption {
              type = hostPath;
              default = stateDirectory;
              description = ''
                Where ullmd keeps its database. Outside ${stateDirectory} it is created by
                systemd-tmpfiles and added to `ReadWritePaths=`.
              '';
            };
            tcp_listen = mkOption {
              type = types.str;
              default = "";
              example = "127.0.0.1:9000";
              description = ''
                "IP:PORT" (an IPv6 address in brackets; no host names) for the OpenAI-compatible API
                and /metrics over TCP; "" serves them on the unix socket only. A non-loopback address
                needs `settings.security.require_key_on_tcp`.
              '';
            };
            admin_group = mkOption {
              type = types.strMatching "[a-z_][a-z0-9_-]{0,31}";
              default = "ullm-admin";
              description = "Group (created by this module) whose members may use ullmctl through the admin socket.";
            };
          };
          gpu = {
            nvml_library = mkOption {
              type = types.pathWith { absolute = true; };
              default = "/run/opengl-driver/lib/libnvidia-ml.so.1";
              description = "NVML library ullmd reads GPU memory from (where NixOS's NVIDIA driver puts it).";
            };
            reserve_mib = mkOption {
              type = types.ints.unsigned;
              default = 512;
              description = "GPU memory (MiB) kept free on every GPU.";
            };
          };
          security.require_key_on_tcp = mkOption {
            type = types.bool;
            default = true;
            description = "Require an API key on the TCP listener.";
          };
        };
      };
    };
  };

  config = lib.mkMerge [
    (mkIf cfg.enable {
      assertions =
        map (name: {
          assertion = lib.elem cfg.models.${name}.backend enabledBackends;
          message = ''services.unified-llm.models.${name}.backend is "${cfg.models.${name}.backend}", but services.unified-llm.backends.${cfg.models.${name}.backend}.enable is false.'';
        }) (lib.attrNames cfg.models)
        ++ [
          {
            assertion = !cfg.rpcWorker.enable || (isListenAddress rpcListen && !lib.hasPrefix "[" rpcListen);
            message = ''services.unified-llm.rpcWorker.listen "${rpcListen}" is not IPv4:PORT with a port in 1..65535 (ggml-rpc-server listens on IPv4 only).'';
          }
          {
            assertion = !isListenAddress tcpListen || isLoopback tcpListen || cfg.settings.security.require_key_on_tcp;
            message = ''services.unified-llm listens on ${tcpListen}, which is not a loopback address, while settings.security.require_key_on_tcp is false: anyone who can reach it could use every model. Set settings.security.require_key_on_tcp = true or listen on 127.0.0.1.'';
          }
          {
            assertion = tcpListen == "" || isListenAddress tcpListen;
            message = ''services.unified-llm: TCP listen address "${tcpListen}" is not IP:PORT with a port in 1..65535 (an IPv6 address goes in brackets: "[::1]:9000"; host names are not accepted).'';
          }
          {
            assertion = !cfg.prometheus.scrape || isListenAddress tcpListen;
            message = ''services.unified-llm.prometheus.scrape needs a TCP listener (settings.server.tcp_listen, e.g. "127.0.0.1:9000"): Prometheus cannot scrape ullmd's unix socket.'';
          }
        ]
        ++ map (claim: {
          assertion = false;
          message = ''services.unified-llm: "${claim}" is the name or an alias of more than one model (${lib.concatStringsSep ", " (claimsOf claim)}); each name and alias may belong to one model only.'';
        }) duplicateClaims
        ++ map (route: {
          assertion = false;
          message = ''services.unified-llm: route "${route}" has the same name as a model or alias (of ${lib.concatStringsSep ", " (claimsOf route)}).'';
        }) routeClashes
        ++ lib.concatLists (
          lib.mapAttrsToList (name: model: [
            {
              assertion = isSafeName name && lib.all isSafeName model.aliases;
              message = ''services.unified-llm.models.${name}: model names and aliases must be 1-64 letters, digits, ".", "_", "-" or ":", starting with a letter or digit, without "..".'';
            }
            {
              assertion = !splitOverRay model || model.rayAddress != null || rayClusterAddress != null;
              message = ''services.unified-llm.models.${name}.pipelineParallelSize is ${toString model.pipelineParallelSize}: a Ray cluster runs its stages. Make this host a node of it (services.unified-llm.ray) or set models.${name}.rayAddress.'';
            }
            {
              assertion = model.backend != "llamacpp" || isAbsolute (renderSource model.source);
              message = ''services.unified-llm.models.${name}.source must be an absolute path to a GGUF file for the llamacpp backend, not "${renderSource model.source}".'';
            }
          ]) cfg.models
        )
        ++ map (name: {
          assertion = builtins.match "[A-Za-z0-9_.-]+" name != null;
          message = ''services.unified-llm.credentials: the name "${name}" may only contain letters, digits, "_", "." and "-".'';
        }) (lib.attrNames cfg.credentials)
        ++ map (name: {
          assertion = acceleratedArguments cfg.backends.${name}.package != { };
          message = ''services.unified-llm.acceleration is "${toString cfg.acceleration}", but the package of backend ${name} takes none of cudaSupport, rocmSupport or acceleration.'';
        }) (lib.optionals (cfg.acceleration != null) enabledBackends);

      warnings =
        lib.optional (cfg.openFirewall && (!isListenAddress tcpListen || isLoopback tcpListen)) ''services.unified-llm.openFirewall is set, but ullmd listens on ${
          if tcpListen == "" then "no TCP address" else tcpListen
        }, which the firewall does not affect.''
        ++ lib.optional (
          cfg.rpcWorker.enable && cfg.rpcWorker.allowedPeers == [ ] && isListenAddress rpcListen && !isLoopback rpcListen
        ) ''services.unified-llm.rpcWorker listens on ${rpcListen}, but rpcWorker.allowedPeers is empty, so the firewall lets no head reach it.'';

      # Every key at default priority, so a user's own settings.backends.NAME.KEY or
      # settings.models.NAME.KEY replaces the module's value instead of conflicting with it.
      services.unified-llm.settings = {
        backends = lib.genAttrs backendNames (name: lib.mapAttrs (_: mkDefault) (renderBackend name));
        models = lib.mapAttrs (_: model: lib.mapAttrs (_: mkDefault) (renderModel model)) cfg.models;
        peers = mkIf (cfg.peers != { }) (lib.mapAttrs (name: peer: lib.mapAttrs (_: mkDefault) (renderPeer name peer)) cfg.peers);
        rpc_workers = mkIf (cfg.rpcWorkers != { }) (lib.mapAttrs (_: worker: lib.mapAttrs (_: mkDefault) (renderRpcWorker worker)) cfg.rpcWorkers);
        rpc_worker = mkIf cfg.rpcWorker.enable (
          lib.mapAttrs (_: mkDefault) (
            lib.filterAttrs (_: value: value != null) {
              listen = rpcListen;
              inherit (cfg.rpcWorker) devices executable;
            }
          )
        );
        # /metrics on TCP needs a key; a scrape job without one needs it open.
        security = mkIf (cfg.prometheus.scrape && cfg.prometheus.keyFile == null) { metrics_open_on_tcp = mkDefault true; };
      };

      users.groups.${cfg.settings.server.admin_group} = { };

      # ullmctl for administrators, and the configuration ullmd and ullmctl read.
      environment.systemPackages = [ cfg.package ];
      environment.etc."unified-llm/config.toml".source = configFile;

      systemd.tmpfiles.rules = lib.optional (!dataDirIsState) "d ${dataDir} 0750 root root - -";

      services.prometheus = {
        scrapeConfigs = mkIf cfg.prometheus.scrape [
          ({
            job_name = "unified-llm";
            scrape_interval = cfg.prometheus.scrapeInterval;
            metrics_path = "/metrics";
            static_configs = [ { targets = [ scrapeTarget ]; } ];
          }
          // lib.optionalAttrs (cfg.prometheus.keyFile != null) { authorization.credentials_file = cfg.prometheus.keyFile; })
        ];
        ruleFiles = mkIf cfg.prometheus.alertRules [ (observabilityDirectory + "/prometheus/alerts.yml") ];
      };

      # Only when asked: nixpkgs' dashboards.settings is null by default, and a host that provisions
      # dashboards through dashboards.path may not set it.
      services.grafana.provision.dashboards.settings = mkIf cfg.grafana.dashboard {
        providers = [
          {
            name = "unified-llm";
            type = "file";
            options.path = observabilityDirectory + "/grafana";
          }
        ];
      };

      networking.firewall.allowedTCPPorts = lib.optional (
        cfg.openFirewall && isListenAddress tcpListen && !isLoopback tcpListen
      ) (tcpPort tcpListen);

      systemd.services.unified-llm = {
        description = "unified-llm daemon (ullmd)";
        wantedBy = [ "multi-user.target" ];
        after = [
          "network.target"
          "dbus.service"
        ];
        # A settings change is a reload (switch-to-configuration sends ExecReload); only the settings
        # ullmd cannot apply live restart it.
        reloadTriggers = [ configFile ];
        restartTriggers = [ (builtins.toJSON restartOnlySettings) ];

        serviceConfig = {
          Type = "notify";
          NotifyAccess = "main";
          # ullmd sends WATCHDOG=1 at half this interval; a hung daemon is restarted.
          WatchdogSec = "60s";
          ExecStart = utils.escapeSystemdExecArgs (
            [
              "${cfg.package}/bin/ullmd"
              "--config"
              configPath
            ]
            ++ cfg.extraArgs
          );
          ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
          Restart = "on-failure";
          RestartSec = "5s";

          RuntimeDirectory = "unified-llm";
          RuntimeDirectoryMode = "0755";
          StateDirectory = "unified-llm";
          StateDirectoryMode = "0755";
          LogsDirectory = "unified-llm";
          LogsDirectoryMode = "0750";
          UMask = "0027";
          ReadWritePaths = lib.optional (!dataDirIsState) dataDir;

          LoadCredential =
            lib.mapAttrsToList (name: path: "${name}:${path}") cfg.credentials
            ++ lib.mapAttrsToList (name: peer: "${peerCredential name}:${peer.keyFile}") cfg.peers;
          EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;

          # Hardening. ullmd runs as root because it asks PID 1 (over D-Bus, /run/dbus/system_bus_socket
          # or /run/systemd/private) to start backends as transient units; those units are created by
          # PID 1 in ullm.slice, so they do not inherit any of this and no Delegate= is needed.
          # Connecting to a unix socket works on the read-only /run that ProtectSystem=strict leaves.
          ProtectSystem = "strict";
          # Model files may live under /home; ullmd reads their GGUF headers to size loads.
          ProtectHome = "read-only";
          PrivateTmp = true;
          # No PrivateDevices (it would hide /dev/nvidia*): a closed device policy instead, with the
          # devices NVML opens, plus the GPU compute devices when backends may be ullmd's children.
          DevicePolicy = "closed";
          DeviceAllow = nvmlDevices ++ lib.optionals processSupervisor backendDevices;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          NoNewPrivileges = true;
          # The package is a native executable (Native AOT): no JIT, no memory both writable and executable.
          MemoryDenyWriteExecute = true;
          # AF_NETLINK: .NET watches network changes through it.
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_INET"
            "AF_INET6"
            "AF_NETLINK"
          ];
          SystemCallArchitectures = "native";
          SystemCallFilter = [ "@system-service" ];
          SystemCallErrorNumber = "EPERM";
          # systemd grants unit management to a root client by its uid, so no CAP_SYS_ADMIN.
          # CAP_CHOWN: the admin socket's group. CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: model files
          # of any owner. CAP_NET_BIND_SERVICE: a TCP port below 1024.
          CapabilityBoundingSet = [
            "CAP_CHOWN"
            "CAP_DAC_OVERRIDE"
            "CAP_DAC_READ_SEARCH"
            "CAP_NET_BIND_SERVICE"
          ];
        };
      };
    })

    (mkIf (cfg.enable && rpcFirewallOpen) (peerOpeningFor {
      peers = cfg.rpcWorker.allowedPeers;
      port = rpcPort;
      comment = "unified-llm rpc worker";
    }))

    # ullmd starts every backend as a transient unit in this slice, and a Ray node runs in it too; its limits bound them all.
    (mkIf (cfg.enable || cfg.ray.enable) {
      systemd.slices.ullm = {
        description = "unified-llm backends";
        sliceConfig = lib.filterAttrs (_: value: value != null) {
          MemoryMax = cfg.slice.memoryMax;
          CPUQuota = cfg.slice.cpuQuota;
        };
      };
    })

    (mkIf cfg.ray.enable {
      assertions = [
        {
          assertion = cfg.ray.package != null;
          message = ''services.unified-llm.ray.enable needs ray.package: a Python environment holding both ray and vllm, the same on every node of the cluster (e.g. pkgs.python3.withPackages (ps: [ ps.ray ps.vllm ])).'';
        }
        {
          assertion = cfg.ray.headAddress != null;
          message =
            if rayHead then
              ''services.unified-llm.ray.role is "head", but ray.headAddress is not set: the head binds Ray to that address (--node-ip-address) and the workers and vLLM reach it there.''
            else
              ''services.unified-llm.ray.role is "worker", but ray.headAddress is not set: a worker joins the cluster at HEAD:PORT (--address).'';
        }
        {
          assertion = !rayHead || cfg.ray.nodeAddress == null || cfg.ray.nodeAddress == cfg.ray.headAddress;
          message = ''services.unified-llm.ray.nodeAddress is "${toString cfg.ray.nodeAddress}" on the head, whose address is ray.headAddress "${toString cfg.ray.headAddress}": leave nodeAddress unset on the head.'';
        }
      ]
      ++ lib.mapAttrsToList (name: model: {
        assertion = model.rayAddress == null || model.rayAddress == "auto" || model.rayAddress == rayClusterAddress;
        message = ''services.unified-llm.models.${name}.rayAddress is "${toString model.rayAddress}", but this host is a node of the Ray cluster at ${toString rayClusterAddress} (ray.headAddress, ray.port): leave rayAddress unset and the module fills it in.'';
      }) (lib.optionalAttrs cfg.enable cfg.models);

      warnings =
        lib.optional (cfg.ray.allowedPeers == [ ]) ''services.unified-llm.ray is enabled, but ray.allowedPeers is empty, so the firewall lets no other node of the cluster reach this one.''
        ++ lib.optional (cfg.enable && !rayHead) ''services.unified-llm.ray.role is "worker" on a host that also runs ullmd: Ray's vLLM workers use this host's GPUs, and ullmd's planner does not see them; keep ullmd's models off those GPUs (settings.gpu.allowed).'';

      systemd.services.unified-llm-ray = mkIf (cfg.ray.package != null && cfg.ray.headAddress != null) {
        description = "Ray ${cfg.ray.role} node for vLLM across hosts (unified-llm)";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        # vLLM, started by ullmd, joins the cluster through this node.
        before = lib.optional cfg.enable "unified-llm.service";
        environment.HOME = "/var/lib/unified-llm-ray";
        serviceConfig = {
          Slice = "ullm.slice";
          ExecStart = utils.escapeSystemdExecArgs rayCommand;
          # A worker's Ray exits when it loses its head for long; it comes back and joins again.
          Restart = "always";
          RestartSec = "5s";
          DynamicUser = true;
          StateDirectory = "unified-llm-ray";
        };
      };
    })

    (mkIf (cfg.ray.enable && cfg.ray.allowedPeers != [ ]) (peerOpeningFor {
      peers = cfg.ray.allowedPeers;
      port = null;
      comment = "unified-llm ray";
    }))
  ];
}

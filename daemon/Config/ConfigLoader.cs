using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Serilog.Events;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Serialization;
using Tomlyn.Syntax;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Config;

/// <summary>Reads and validates the TOML config; reports every problem at once with file:line:column and key path.</summary>
internal static partial class ConfigLoader
{
    private static readonly Dictionary<string, LogTarget> LogTargets = new()
    {
        ["auto"] = LogTarget.Auto,
        ["journal"] = LogTarget.Journal,
        ["console"] = LogTarget.Console,
    };

    private static readonly Dictionary<string, LogEventLevel> LogLevels = new()
    {
        ["trace"] = LogEventLevel.Verbose,
        ["debug"] = LogEventLevel.Debug,
        ["information"] = LogEventLevel.Information,
        ["warning"] = LogEventLevel.Warning,
        ["error"] = LogEventLevel.Error,
    };

    public static async Task<UllmConfig> LoadFileAsync(string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(path, 0, 0, "", $"cannot read the config file: {e.Message}")]);
        }

        return Parse(text, path);
    }

    /// <summary>Tomlyn's limit on nested arrays and inline tables, which it reports without a position.</summary>
    private const int MaxTomlDepth = 64;

    public static UllmConfig Parse(string text, string file)
    {
        var errors = new List<ConfigError>();
        var metadata = new TomlMetadataStore();
        var top = new TomlSection(ReadTable(text, file, errors, metadata), metadata, errors, file);
        var config = Bind(top, file);
        top.RejectUnknownKeys();
        if (errors.Count > 0)
        {
            throw new ConfigException([.. errors.OrderBy(e => e.Line).ThenBy(e => e.Column)]);
        }

        return config;
    }

    /// <summary>
    /// Each table of <paramref name="text"/> that the loader checks for unknown keys, with the keys it accepts there: the
    /// loader's reading code is the one list of keys, since each table's reader names every key it takes, set or not.
    /// Errors in the values are ignored (this asks which keys exist); a TOML syntax error is thrown.
    /// </summary>
    public static IReadOnlyList<TableKeys> AcceptedKeys(string text, string file)
    {
        var errors = new List<ConfigError>();
        var metadata = new TomlMetadataStore();
        var tables = new List<TableKeys>();
        var top = new TomlSection(ReadTable(text, file, errors, metadata), metadata, errors, file, tables);
        _ = Bind(top, file);
        top.RejectUnknownKeys();
        return tables;
    }

    /// <summary>The file's TOML as a table, or a <see cref="ConfigException"/> with every syntax error located.</summary>
    private static TomlTable ReadTable(string text, string file, List<ConfigError> errors, TomlMetadataStore metadata)
    {
        try
        {
            // The syntax tree's validation reports what the table reader lets pass: a key or table defined twice (TOML
            // forbids it; the reader kept the last value, so `require_key_on_tcp = false` then `= true` passed).
            foreach (var d in SyntaxParser.Parse(text, file).Diagnostics.Where(d => d.Kind == DiagnosticMessageKind.Error))
            {
                errors.Add(SyntaxError(file, d));
            }

            if (errors.Count > 0)
            {
                throw new ConfigException(errors);
            }

            return TomlSerializer.Deserialize(text, ConfigTomlContext.Table(new TomlSerializerOptions { SourceName = file, MetadataStore = metadata }))
                ?? new TomlTable();
        }
        catch (TomlException e)
        {
            // Either parser may throw instead of reporting (nesting deeper than its limit did, out of SyntaxParser).
            foreach (var d in e.Diagnostics)
            {
                errors.Add(SyntaxError(file, d));
            }

            if (errors.Count == 0)
            {
                errors.Add(e.Line is null && e.Message.Contains("depth", StringComparison.Ordinal) && TomlNesting.FindDeepest(text) is var (line, column)
                    ? new ConfigError(file, line, column, "", $"TOML syntax: arrays and inline tables nested too deep (the parser's limit is {MaxTomlDepth} levels, counting the enclosing tables)")
                    : new ConfigError(file, e.Line ?? 0, e.Column ?? 0, "", $"TOML syntax: {e.Message}"));
            }

            throw new ConfigException(errors);
        }
    }

    /// <summary>A parser diagnostic as a located error; a redefinition names the key and where it was first defined.</summary>
    private static ConfigError SyntaxError(string file, DiagnosticMessage d)
    {
        var (line, column) = (d.Span.Start.Line + 1, d.Span.Start.Column + 1);
        return Redefined().Match(d.Message) is { Success: true } m
            ? new ConfigError(file, line, column, m.Groups["key"].Value,
                $"defined twice: first at {file}:{m.Groups["line"].Value}:{m.Groups["column"].Value}; TOML allows each key and table only once")
            : new ConfigError(file, line, column, "", $"TOML syntax: {d.Message}");
    }

    [GeneratedRegex(@"^The key `(?<key>.*)` is already defined at \((?<line>\d+),(?<column>\d+)\)", RegexOptions.Singleline)]
    private static partial Regex Redefined();

    private static UllmConfig Bind(TomlSection top, string file)
    {
        var server = BindServer(top.Table("server"));
        var gpu = BindGpu(top.Table("gpu"));
        var backendsSection = top.Table("backends");
        var backends = new BackendsConfig(
            BindBackend(backendsSection?.Table("llamacpp"), "llama-server", enabledByDefault: true, BackendKind.LlamaCpp),
            BindBackend(backendsSection?.Table("ollama"), "ollama", enabledByDefault: false, BackendKind.Ollama),
            BindBackend(backendsSection?.Table("vllm"), "vllm", enabledByDefault: false, BackendKind.Vllm))
        {
            Generic = BindGenericBackends(backendsSection),
        };
        backendsSection?.RejectUnknownKeys();

        var scanSection = top.Table("scan");
        var scan = new ScanConfig(scanSection?.StringList("directories") ?? []);
        if (scanSection is not null)
        {
            foreach (var directory in scan.Directories)
            {
                RequireAbsolute(scanSection, "directories", directory);
            }

            scanSection.RejectUnknownKeys();
        }

        var downloads = BindDownloads(top.Table("downloads"));
        var models = new Dictionary<string, ModelConfig>(StringComparer.Ordinal);
        var modelsSection = top.Table("models");
        if (modelsSection is not null)
        {
            foreach (var (name, section) in modelsSection.ChildTables())
            {
                var model = BindModel(name, section, backends, server, downloads);
                if (model is not null)
                {
                    models[name] = model;
                }
            }
        }

        var providers = new Dictionary<string, ProviderConfig>(StringComparer.Ordinal);
        var providersSection = top.Table("providers");
        if (providersSection is not null)
        {
            foreach (var (name, section) in providersSection.ChildTables())
            {
                var provider = BindProvider(name, section);
                if (provider is not null)
                {
                    providers[name] = provider;
                }
            }
        }

        var routerSection = top.Table("router");
        var fallback = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var fallbackSection = routerSection?.Table("fallback");
        if (fallbackSection is not null)
        {
            foreach (var name in fallbackSection.Keys.ToList())
            {
                fallback[name] = fallbackSection.StringList(name);
            }
        }

        var timeouts = new UpstreamTimeouts(
            TimeSpan.FromSeconds(routerSection?.Number("connect_timeout_seconds", 10, 0.1, 3600) ?? 10),
            TimeSpan.FromSeconds(routerSection?.Number("first_token_timeout_seconds", 300, 0.1, 86400) ?? 300),
            TimeSpan.FromSeconds(routerSection?.Number("idle_timeout_seconds", 120, 0.1, 86400) ?? 120));
        var breaker = new BreakerConfig(
            routerSection?.Number("breaker_failure_ratio", 0.5, 0.01, 1) ?? 0.5,
            (int)(routerSection?.Integer("breaker_minimum_requests", 5, 2, 100_000) ?? 5),
            TimeSpan.FromSeconds(routerSection?.Number("breaker_window_seconds", 30, 0.5, 86400) ?? 30),
            TimeSpan.FromSeconds(routerSection?.Number("breaker_break_seconds", 30, 0.5, 86400) ?? 30));
        var loadingNotice = routerSection?.Bool("loading_notice", false) ?? false;
        routerSection?.RejectUnknownKeys();

        var routes = new Dictionary<string, RouteConfig>(StringComparer.Ordinal);
        var routesSection = top.Table("routes");
        if (routesSection is not null)
        {
            foreach (var (name, section) in routesSection.ChildTables())
            {
                if (!IsSafeName(name))
                {
                    section.ErrorAtTable(NameRule);
                }

                var strategy = section.Enum("strategy", RouteStrategy.LocalFirst, EnumNames.Strategies.ByName);
                var targets = section.StringList("targets");
                if (targets.Count == 0)
                {
                    section.Error("targets", "a route needs at least one target");
                }

                var cache = BindCache(section);
                section.RejectUnknownKeys();
                routes[name] = new RouteConfig(name, strategy, targets) { Cache = cache };
            }
        }

        var peers = BindPeers(top.Table("peers"));
        var rpcWorker = BindRpcWorkerRole(top.Table("rpc_worker"));
        var rpcWorkers = BindRpcWorkers(top.Table("rpc_workers"));
        var rpcHead = BindRpcHead(top.Table("rpc_head"));
        var security = BindSecurity(top.Table("security"));
        var audit = BindAudit(top.Table("audit"));
        var responses = BindResponses(top.Table("responses"));

        ValidateReferences(top, models, providers, fallback, routes, security, server);
        ValidateGroups(top, models);
        ValidateMaxLoaded(top, models, backends);

        return new UllmConfig(file, server, gpu, backends, scan, models, providers, new RouterConfig(fallback, timeouts, breaker) { LoadingNotice = loadingNotice }, routes, security, audit)
        {
            Downloads = downloads,
            Responses = responses,
            Peers = peers,
            RpcWorker = rpcWorker,
            RpcWorkers = rpcWorkers,
            RpcHead = rpcHead,
        };
    }

    private static ServerConfig BindServer(TomlSection? s)
    {
        var dataDir = s?.String("data_dir", "/var/lib/unified-llm") ?? "/var/lib/unified-llm";
        var openAiSocket = s?.String("openai_socket", "/run/unified-llm/openai.sock") ?? "/run/unified-llm/openai.sock";
        var adminSocket = s?.String("admin_socket", "/run/unified-llm/admin.sock") ?? "/run/unified-llm/admin.sock";
        var mode = (UnixFileMode)Convert.ToInt32("666", 8);
        var tcp = s?.String("tcp_listen", "127.0.0.1:9000") ?? "127.0.0.1:9000";
        var config = new ServerConfig(
            dataDir,
            openAiSocket,
            mode,
            tcp.Length == 0 ? null : tcp,
            adminSocket,
            s?.String("admin_group", "ullm-admin") ?? "ullm-admin",
            s?.Enum("supervisor", SupervisorKind.Auto, EnumNames.Supervisors.ByName) ?? SupervisorKind.Auto,
            s?.Bool("stop_backends_on_exit", true) ?? true,
            s?.Enum("log_level", LogEventLevel.Information, LogLevels) ?? LogEventLevel.Information,
            s?.Integer("max_request_body_bytes", 16L << 20, 1024, 1L << 31) ?? 16L << 20);
        if (s is null)
        {
            return config;
        }

        config = config with
        {
            LogTarget = s.Enum("log_target", LogTarget.Auto, LogTargets),
            MaxAudioBodyBytes = s.Integer("max_audio_body_bytes", ServerConfig.DefaultMaxAudioBodyBytes, 1024, 1L << 40),
            IoScheduling = s.Enum("io_scheduling", IoScheduling.Inline, EnumNames.IoSchedulings.ByName),
            MaxSwapWait = TimeSpan.FromSeconds(s.Integer("max_swap_wait_seconds", (long)ServerConfig.DefaultMaxSwapWait.TotalSeconds, 0, 3600)),
        };
        var systemdAddress = s.String("systemd_address", ServerConfig.AutoSystemdAddress);
        if (systemdAddress != ServerConfig.AutoSystemdAddress)
        {
            try
            {
                foreach (var entry in Systemd.DBus.DBusAddress.ParseList(systemdAddress))
                {
                    _ = entry.ToEndPoint();
                }

                config = config with { SystemdAddress = systemdAddress };
            }
            catch (Exception e) when (e is FormatException or NotSupportedException)
            {
                s.Error("systemd_address", $"'{systemdAddress}' is not \"auto\" or a D-Bus address like \"unix:path=/run/dbus/system_bus_socket\": {e.Message}");
            }
        }

        RequireAbsolute(s, "data_dir", dataDir);
        RequireAbsolute(s, "openai_socket", openAiSocket);
        RequireAbsolute(s, "admin_socket", adminSocket);
        if (openAiSocket == adminSocket)
        {
            s.Error("admin_socket", "must differ from openai_socket");
        }

        var modeText = s.OptionalString("openai_socket_mode");
        if (modeText is not null)
        {
            if (OctalMode().IsMatch(modeText))
            {
                config = config with { OpenAiSocketMode = (UnixFileMode)Convert.ToInt32(modeText, 8) };
            }
            else
            {
                s.Error("openai_socket_mode", $"'{modeText}' is not an octal file mode like \"0666\"");
            }
        }

        config = BindTls(s, config);
        if (config.TcpListen is not null && !TryParseListen(config.TcpListen, out _))
        {
            s.Error("tcp_listen", $"'{config.TcpListen}' is not HOST:PORT with an IP address and a port in 1..65535 (use \"\" to disable TCP)");
        }
        else if (config.TcpListen is not null && TryParseListen(config.TcpListen, out var endpoint)
            && !IPAddress.IsLoopback(endpoint!.Address) && config.Tls is null && !config.AllowPlaintext)
        {
            s.Error("tcp_listen", $"'{config.TcpListen}' is not a loopback address, so it needs TLS: set tls_certificate and tls_key "
                + "(or tls_certificate_credential and tls_key_credential), or allow_plaintext = true to serve it without encryption");
        }

        if (!GroupName().IsMatch(config.AdminGroup))
        {
            s.Error("admin_group", $"'{config.AdminGroup}' is not a valid group name");
        }

        s.RejectUnknownKeys();
        return config;
    }

    /// <summary>
    /// The TLS keys of [server]: a certificate and a key, each from a PEM file or a systemd credential (an empty string
    /// is the same as unset), an optional client CA, and allow_plaintext.
    /// </summary>
    private static ServerConfig BindTls(TomlSection s, ServerConfig config)
    {
        var certificate = SecretSource(s, "tls_certificate", "tls_certificate_credential");
        var key = SecretSource(s, "tls_key", "tls_key_credential");
        var clientCa = s.OptionalString("tls_client_ca") is { Length: > 0 } ca ? ca : null;
        if (clientCa is not null)
        {
            RequireAbsolute(s, "tls_client_ca", clientCa);
        }

        config = config with { AllowPlaintext = s.Bool("allow_plaintext", false) };
        if (certificate is null && key is not null)
        {
            s.Error(key.Kind == ApiKeySourceKind.File ? "tls_key" : "tls_key_credential", "a TLS key needs its certificate: set tls_certificate or tls_certificate_credential");
        }
        else if (certificate is not null && key is null)
        {
            s.Error(certificate.Kind == ApiKeySourceKind.File ? "tls_certificate" : "tls_certificate_credential", "a TLS certificate needs its private key: set tls_key or tls_key_credential");
        }
        else if (certificate is not null && key is not null)
        {
            if (config.TcpListen is null)
            {
                s.Error(certificate.Kind == ApiKeySourceKind.File ? "tls_certificate" : "tls_certificate_credential", "TLS is for the TCP listener, which tcp_listen = \"\" disables");
            }

            return config with { Tls = new TlsConfig(certificate, key, clientCa) };
        }

        if (clientCa is not null)
        {
            s.Error("tls_client_ca", "client certificates need TLS: set tls_certificate and tls_key too");
        }

        return config;
    }

    private static GpuConfig BindGpu(TomlSection? s)
    {
        if (s is null)
        {
            return new GpuConfig(null, 512, [], TimeSpan.FromSeconds(2));
        }

        var library = s.OptionalString("nvml_library");
        if (library is { Length: > 0 })
        {
            RequireAbsolute(s, "nvml_library", library);
        }

        var allowed = s.IntegerList("allowed");
        foreach (var index in allowed.Where(i => i is < 0 or > 63))
        {
            s.Error("allowed", $"GPU index {index} is out of range 0..63");
        }

        var config = new GpuConfig(
            library is { Length: > 0 } ? library : null,
            s.Integer("reserve_mib", 512, 0, 1 << 20),
            allowed.Where(i => i is >= 0 and <= 63).Select(i => (int)i).Distinct().ToList(),
            TimeSpan.FromSeconds(s.Number("poll_interval_seconds", 2, 0.1, 3600)));
        s.RejectUnknownKeys();
        return config;
    }

    private static BackendConfig BindBackend(TomlSection? s, string defaultExecutable, bool enabledByDefault, BackendKind kind)
    {
        if (s is null)
        {
            return new BackendConfig(enabledByDefault, defaultExecutable, [], new Dictionary<string, string>());
        }

        var executable = s.String("executable", defaultExecutable);
        if (executable.Length == 0)
        {
            s.Error("executable", "must not be empty");
        }
        else if (executable.Contains('/', StringComparison.Ordinal))
        {
            RequireAbsolute(s, "executable", executable);
        }

        var env = s.StringMap("env");
        foreach (var name in env.Keys.Where(n => !EnvName().IsMatch(n)))
        {
            s.Error("env", $"'{name}' is not a valid environment variable name");
        }

        var extraArgs = s.StringList("extra_args");
        RejectOwnedFlags(s, "extra_args", kind, extraArgs);

        var config = new BackendConfig(s.Bool("enabled", enabledByDefault), executable, extraArgs, env)
        {
            MaxLoaded = (int)s.Integer("max_loaded", 0, 0, 10_000),
        };
        s.RejectUnknownKeys();
        return config;
    }

    private static ModelConfig? BindModel(string name, TomlSection s, BackendsConfig backends, ServerConfig server, DownloadsConfig downloads)
    {
        if (!IsSafeName(name))
        {
            s.ErrorAtTable(NameRule);
        }

        var (backend, generic) = BindModelBackend(s, backends) ?? (BackendKind.LlamaCpp, null);
        var declared = BindDeclaredFootprint(s, generic is not null);

        var source = s.RequiredString("source") ?? "";
        if (source.Length > 0 && backend == BackendKind.LlamaCpp && !RemoteSource.IsRemote(source))
        {
            RequireAbsolute(s, "source", source);
        }

        var aliases = s.StringList("aliases");
        foreach (var alias in aliases.Where(a => !IsSafeName(a)))
        {
            s.Error("aliases", $"alias '{alias}': {NameRule}");
        }

        var group = s.OptionalString("group");
        if (group is not null && !IsSafeName(group))
        {
            s.Error("group", $"group '{group}': {NameRule}");
        }

        int? layers = null;
        if (s.Has("gpu_layers"))
        {
            var layersText = s.OptionalStringOrInteger("gpu_layers");
            if (layersText is long n and >= 0 and <= 100_000)
            {
                layers = (int)n;
            }
            else if (layersText is not "auto")
            {
                s.Error("gpu_layers", "expected \"auto\" or a number of layers (0..100000)");
            }
        }

        var context = (int)s.Integer("context", 0, 0, 16 << 20);
        if (backend == BackendKind.Ollama && s.Has("parallel"))
        {
            s.Error("parallel", "Ollama serves every model with the same number of slots: set OLLAMA_NUM_PARALLEL in [backends.ollama] env");
        }

        var model = new ModelConfig(
            name,
            backend,
            source,
            aliases,
            context,
            layers,
            TimeSpan.FromSeconds(s.Integer("ttl_seconds", 0, 0, 365L * 24 * 3600)),
            (int)s.Integer("priority", 50, -1000, 1000),
            s.Bool("pinned", false),
            s.StringList("extra_args"))
        {
            Group = group,
            GenericBackend = generic,
            Declared = declared,
            Cache = BindCache(s),
        };
        model = BindSizing(s, model);
        model = BindVllmCluster(s, model);
        model = BindRemoteSource(model, s, server, downloads);
        s.RejectUnknownKeys();
        return model;
    }

    /// <summary>Request slots, context floor, KV cache types, flash attention and GPU pinning, checked together.</summary>
    private static ModelConfig BindSizing(TomlSection s, ModelConfig model)
    {
        // vLLM batches far more sequences than llama-server has slots.
        var maxParallel = model.Backend == BackendKind.Vllm ? 4096 : 256;
        var parallel = (int)s.Integer("parallel", ModelConfig.DefaultParallel, 1, maxParallel);
        var minParallel = (int)s.Integer("min_parallel", 1, 1, maxParallel);
        if (minParallel > parallel)
        {
            s.Error("min_parallel", $"min_parallel = {minParallel} is more than parallel = {parallel}");
        }

        var minContext = (int)s.Integer("min_context", 0, 0, 16 << 20);
        if (minContext > 0 && model.Context > 0 && minContext > model.Context)
        {
            s.Error("min_context", $"min_context = {minContext} is more than context = {model.Context}");
        }

        var cacheType = new KvCacheType(
            s.Enum("cache_type_k", GgmlType.F16, KvCacheType.Names),
            s.Enum("cache_type_v", GgmlType.F16, KvCacheType.Names));
        var flash = s.Enum("flash_attn", FlashAttention.Auto, FlashAttentionNames);
        if (cacheType.QuantizedV && flash == FlashAttention.Off)
        {
            s.Error("cache_type_v", $"a quantized V cache ({KvCacheType.NameOf(cacheType.V)}) needs flash attention, and flash_attn = \"off\": "
                + "set flash_attn = \"on\" or \"auto\", or cache_type_v = \"f16\"");
        }

        var gpus = s.IntegerList("gpus");
        foreach (var gpu in gpus.Where(g => g is < 0 or > 1023))
        {
            s.Error("gpus", $"GPU index {gpu} must be between 0 and 1023");
        }

        if (gpus.Distinct().Count() != gpus.Count)
        {
            s.Error("gpus", "lists a GPU index twice");
        }

        if (model.Backend is BackendKind.LlamaCpp or BackendKind.Vllm)
        {
            RejectOwnedFlags(s, "extra_args", model.Backend, model.ExtraArgs);
        }
        else
        {
            foreach (var key in LlamaCppOnlyKeys.Where(s.Has))
            {
                s.Error(key, $"applies to llama.cpp models only; backend '{KeyOf(model.Backend)}' does not take it");
            }
        }

        return model with
        {
            Parallel = parallel,
            MinParallel = minParallel,
            MinContext = minContext,
            CacheType = cacheType,
            FlashAttn = flash,
            Gpus = [.. gpus.Select(g => (int)g)],
        };
    }

    private static readonly string[] LlamaCppOnlyKeys = ["cache_type_k", "cache_type_v", "flash_attn"];

    private static readonly Dictionary<string, FlashAttention> FlashAttentionNames = new(StringComparer.Ordinal)
    {
        ["auto"] = FlashAttention.Auto,
        ["on"] = FlashAttention.On,
        ["off"] = FlashAttention.Off,
    };

    /// <summary>Refuses engine options the planner sets itself, naming what to use instead.</summary>
    private static void RejectOwnedFlags(TomlSection s, string key, BackendKind backend, IReadOnlyList<string> arguments)
    {
        foreach (var argument in arguments)
        {
            if (PlannerOwnedFlags.Find(backend, argument) is { } owned)
            {
                s.Error(key, $"'{owned.Flag}' is set by ullmd's planner for every load; use {owned.Instead} instead");
            }
        }
    }

    /// <summary>
    /// A URL or hf: source becomes a download plan (<see cref="RemoteSource"/>) with the local path as the model's source;
    /// sha256 is for those only.
    /// </summary>
    private static ModelConfig BindRemoteSource(ModelConfig model, TomlSection s, ServerConfig server, DownloadsConfig downloads)
    {
        var sha256 = s.StringOrStringList("sha256");
        if (!RemoteSource.IsRemote(model.Source))
        {
            if (sha256.Count > 0)
            {
                s.Error("sha256", "a checksum is for a source that ullmd downloads (an http(s) URL or hf:ORG/REPO/FILE.gguf)");
            }

            return model;
        }

        if (model.Backend != BackendKind.LlamaCpp)
        {
            s.Error("source", $"'{model.Source}': ullmd downloads GGUF files for llamacpp models only; {KeyOf(model.Backend)} takes {(model.Backend == BackendKind.Ollama ? "an Ollama tag (ullmctl pull fetches it)" : "a Hugging Face model id or a local directory")}");
            return model;
        }

        var remote = RemoteSource.Parse(model.Source, downloads.HuggingFaceEndpoint, server.ModelsDirectory, sha256, out var error);
        if (remote is null)
        {
            s.Error(error.StartsWith("sha256", StringComparison.Ordinal) ? "sha256" : "source", error);
            return model;
        }

        return model with { Source = remote.LocalPath, Remote = remote };
    }

    private static DownloadsConfig BindDownloads(TomlSection? s)
    {
        if (s is null)
        {
            return DownloadsConfig.Default;
        }

        var endpointText = s.String("hf_endpoint", DownloadsConfig.DefaultHuggingFaceEndpoint);
        var endpoint = DownloadsConfig.Default.HuggingFaceEndpoint;
        if (Uri.TryCreate(endpointText, UriKind.Absolute, out var parsed) && (parsed.Scheme == Uri.UriSchemeHttps || parsed.Scheme == Uri.UriSchemeHttp)
            && parsed.Query.Length == 0 && parsed.Fragment.Length == 0 && parsed.UserInfo.Length == 0)
        {
            // A trailing "/" makes the endpoint a base that "ORG/REPO/resolve/…" resolves under, path prefix included.
            endpoint = new Uri(parsed.AbsoluteUri.TrimEnd('/') + "/");
        }
        else
        {
            s.Error("hf_endpoint", $"'{endpointText}' is not an http(s) URL (without user info, query or fragment)");
        }

        var token = SecretSource(s, "token_file", "token_credential");
        s.RejectUnknownKeys();
        return new DownloadsConfig(endpoint, token);
    }

    /// <summary>
    /// A secret read from an absolute file path or a systemd credential, whichever of the two keys is set (an empty
    /// string is the same as unset; both set is an error).
    /// </summary>
    private static ApiKeySource? SecretSource(TomlSection s, string fileKey, string credentialKey)
    {
        var file = s.OptionalString(fileKey) is { Length: > 0 } f ? f : null;
        var credential = s.OptionalString(credentialKey) is { Length: > 0 } c ? c : null;
        if (file is not null && credential is not null)
        {
            s.Error(credentialKey, $"set only one of {fileKey} and {credentialKey}");
        }

        if (file is not null)
        {
            RequireAbsolute(s, fileKey, file);
            return new ApiKeySource(ApiKeySourceKind.File, file);
        }

        if (credential is not null)
        {
            if (!IsSafeName(credential))
            {
                s.Error(credentialKey, $"'{credential}' is not a valid credential name");
            }

            return new ApiKeySource(ApiKeySourceKind.Credential, credential);
        }

        return null;
    }

    private static ProviderConfig? BindProvider(string name, TomlSection s)
    {
        if (!IsSafeName(name))
        {
            s.ErrorAtTable(NameRule);
        }

        var kind = s.Enum("kind", ProviderKind.OpenAi, EnumNames.Providers.ByName);
        if (!s.Has("kind"))
        {
            s.ErrorAtTable("missing required key 'kind' (one of 'openai', 'anthropic')");
        }

        var baseUrlText = s.RequiredString("base_url");
        Uri? baseUrl = null;
        if (baseUrlText is not null
            && (!Uri.TryCreate(baseUrlText, UriKind.Absolute, out baseUrl) || (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps)))
        {
            s.Error("base_url", $"'{baseUrlText}' is not an http(s) URL");
            baseUrl = null;
        }

        var sources = KeySources(s);
        var inline = s.OptionalString("api_key");
        var allowInline = s.Bool("allow_inline_api_key", false);
        if (inline is not null)
        {
            if (!allowInline)
            {
                s.Error("api_key", "inline secrets are refused: use api_key_env, api_key_file or api_key_credential (or set allow_inline_api_key = true)");
            }

            sources.Add(new ApiKeySource(ApiKeySourceKind.Inline, inline));
        }

        if (sources.Count > 1)
        {
            s.ErrorAtTable("set only one of api_key_env, api_key_file, api_key_credential, api_key");
        }

        var models = s.StringList("models");
        var responsesApi = s.Bool("responses_api", false);
        if (responsesApi && kind != ProviderKind.OpenAi)
        {
            s.Error("responses_api", "only a provider of kind 'openai' can speak the Responses API natively; /v1/responses reaches an 'anthropic' provider translated");
        }

        var provider = new ProviderConfig(
            name,
            kind,
            baseUrl ?? new Uri("http://invalid.invalid"),
            sources.FirstOrDefault() ?? new ApiKeySource(ApiKeySourceKind.None, ""),
            models,
            s.Number("cost_per_million_input_tokens", 0, 0, 1e6),
            s.Number("cost_per_million_output_tokens", 0, 0, 1e6))
        {
            ResponsesApi = responsesApi,
        };
        s.RejectUnknownKeys();
        return provider;
    }

    /// <summary>The key sources a table sets of api_key_env, api_key_file and api_key_credential (a provider's or a peer's).</summary>
    private static List<ApiKeySource> KeySources(TomlSection s)
    {
        var sources = new List<ApiKeySource>();
        var env = s.OptionalString("api_key_env");
        if (env is not null)
        {
            if (!EnvName().IsMatch(env))
            {
                s.Error("api_key_env", $"'{env}' is not a valid environment variable name");
            }

            sources.Add(new ApiKeySource(ApiKeySourceKind.Environment, env));
        }

        var keyFile = s.OptionalString("api_key_file");
        if (keyFile is not null)
        {
            RequireAbsolute(s, "api_key_file", keyFile);
            sources.Add(new ApiKeySource(ApiKeySourceKind.File, keyFile));
        }

        var credential = s.OptionalString("api_key_credential");
        if (credential is not null)
        {
            if (!IsSafeName(credential))
            {
                s.Error("api_key_credential", $"'{credential}' is not a valid credential name");
            }

            sources.Add(new ApiKeySource(ApiKeySourceKind.Credential, credential));
        }

        return sources;
    }

    private static SecurityConfig BindSecurity(TomlSection? s)
    {
        var config = new SecurityConfig(
            s?.Bool("require_key_on_tcp", true) ?? true,
            s?.Bool("allow_anonymous_unix", true) ?? true,
            (int)(s?.Integer("default_requests_per_minute", 600, 0, 1_000_000) ?? 600),
            s?.Integer("default_tokens_per_minute", 0, 0, long.MaxValue) ?? 0)
        {
            AnonymousProviders = s?.Bool("anonymous_providers", false) ?? false,
            MetricsOpenOnTcp = s?.Bool("metrics_open_on_tcp", false) ?? false,
        };
        s?.RejectUnknownKeys();
        return config;
    }

    private static AuditConfig BindAudit(TomlSection? s)
    {
        var config = new AuditConfig(
            (int)(s?.Integer("retention_days", 30, 1, 36500) ?? 30),
            (int)(s?.Integer("queue_capacity", 10_000, 1, 1_000_000) ?? 10_000));

        // Nothing stores bodies; false stays accepted so that configs spelling out the old default still load.
        if (s is not null && s.Bool("log_request_bodies", false))
        {
            s.Error("log_request_bodies", "storing request and response bodies is not supported by this ullmd; remove the key or set it to false");
        }

        s?.RejectUnknownKeys();
        return config;
    }

    private static ResponsesConfig BindResponses(TomlSection? s)
    {
        var config = new ResponsesConfig(
            s?.Bool("store_by_default", ResponsesConfig.Default.StoreByDefault) ?? ResponsesConfig.Default.StoreByDefault,
            (int)(s?.Integer("retention_days", ResponsesConfig.Default.RetentionDays, 1, 36500) ?? ResponsesConfig.Default.RetentionDays));
        s?.RejectUnknownKeys();
        return config;
    }

    private static void ValidateReferences(
        TomlSection top,
        Dictionary<string, ModelConfig> models,
        Dictionary<string, ProviderConfig> providers,
        Dictionary<string, IReadOnlyList<string>> fallback,
        Dictionary<string, RouteConfig> routes,
        SecurityConfig security,
        ServerConfig server)
    {
        var names = new ModelNames(
            models.Values,
            (model, name, owner) => top.Table("models")?.Table(model.Name)?.Error("aliases", $"'{name}' is already the name or an alias of model '{owner}'"))
            .Canonical;

        foreach (var route in routes.Values)
        {
            if (names.ContainsKey(route.Name))
            {
                top.Table("routes")?.Table(route.Name)?.ErrorAtTable($"route '{route.Name}' has the same name as a model or alias");
            }

            foreach (var target in route.Targets.Where(t => !IsKnownTarget(t, names, providers)))
            {
                top.Table("routes")?.Table(route.Name)?.Error("targets", UnknownTarget(target, names, providers));
            }
        }

        foreach (var (name, chain) in fallback)
        {
            var section = top.Table("router")?.Table("fallback");
            if (!names.ContainsKey(name) && !routes.ContainsKey(name) && !IsKnownTarget(name, names, providers))
            {
                section?.Error(name, $"fallback for unknown model '{name}'{Suggestions.DidYouMean(name, names.Keys)}");
            }

            foreach (var target in chain.Where(t => !IsKnownTarget(t, names, providers)))
            {
                section?.Error(name, UnknownTarget(target, names, providers));
            }
        }

        if (server.TcpListen is not null && TryParseListen(server.TcpListen, out var endpoint)
            && !IPAddress.IsLoopback(endpoint!.Address) && !security.RequireKeyOnTcp)
        {
            top.Table("security")?.Error("require_key_on_tcp", $"must be true when server.tcp_listen ({server.TcpListen}) is not a loopback address");
            if (top.Table("security") is null)
            {
                top.Table("server")?.Error("tcp_listen", "a non-loopback TCP listener requires security.require_key_on_tcp = true");
            }
        }
    }

    /// <summary>
    /// A group swaps between its members, so it needs two of them (a lone member is most likely a misspelt group), and
    /// at most one pinned member: two pinned members could never be loaded together.
    /// </summary>
    private static void ValidateGroups(TomlSection top, Dictionary<string, ModelConfig> models)
    {
        var groups = models.Values.Where(m => m.Group is not null).GroupBy(m => m.Group!, StringComparer.Ordinal).ToList();
        foreach (var group in groups)
        {
            var members = group.ToList();
            if (members.Count == 1)
            {
                var others = groups.Select(g => g.Key).Where(g => g != group.Key);
                top.Table("models")?.Table(members[0].Name)?.Error(
                    "group", $"exclusive group '{group.Key}' has no other member; a group swaps between at least two models{Suggestions.DidYouMean(group.Key, others)}");
            }

            var pinned = members.Where(m => m.Pinned).ToList();
            foreach (var extra in pinned.Skip(1))
            {
                top.Table("models")?.Table(extra.Name)?.Error(
                    "group", $"'{extra.Name}' and '{pinned[0].Name}' are both pinned in exclusive group '{group.Key}', which holds one loaded member at a time");
            }
        }
    }

    /// <summary>Pinned models load at start and are never evicted, so they must fit under their backend's limit.</summary>
    private static void ValidateMaxLoaded(TomlSection top, Dictionary<string, ModelConfig> models, BackendsConfig backends)
    {
        foreach (var (key, backend) in EnumNames.Backends.ByName.Select(b => (b.Key, backends.For(b.Value))).Concat(backends.Generic.Select(g => (g.Key, g.Value))))
        {
            var limit = backend.MaxLoaded;
            var pinned = models.Values.Where(m => m.BackendKey == key && m.Pinned).Select(m => $"'{m.Name}'").ToList();
            if (limit > 0 && pinned.Count > limit)
            {
                top.Table("backends")?.Table(key)?.Error(
                    "max_loaded", $"{limit} is less than the {pinned.Count} pinned {key} models ({string.Join(", ", pinned)}), which all stay loaded");
            }
        }
    }

    /// <summary>The name of a built-in backend in the config: its [backends.KEY] table and the value of a model's backend key.</summary>
    public static string KeyOf(BackendKind kind) => EnumNames.NameOf(kind);

    private static bool IsKnownTarget(string target, IReadOnlyDictionary<string, string> names, Dictionary<string, ProviderConfig> providers)
    {
        if (names.ContainsKey(target))
        {
            return true;
        }

        var slash = target.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && providers.ContainsKey(target[..slash]) && slash < target.Length - 1;
    }

    private static string UnknownTarget(string target, IReadOnlyDictionary<string, string> names, Dictionary<string, ProviderConfig> providers) =>
        $"unknown target '{target}': expected a model, an alias or PROVIDER/MODEL with a configured provider"
        + Suggestions.DidYouMean(target, names.Keys.Concat(providers.Keys.Select(p => p + "/")));

    private static void RequireAbsolute(TomlSection s, string key, string path)
    {
        if (!System.IO.Path.IsPathFullyQualified(path))
        {
            s.Error(key, $"'{path}' must be an absolute path");
        }
        else if (path.Contains('\0', StringComparison.Ordinal))
        {
            s.Error(key, "path contains a NUL character");
        }
    }

    public static bool TryParseListen(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        var colon = text.LastIndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        var host = text[..colon].Trim('[', ']');
        if (!IPAddress.TryParse(host, out var address)
            || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535)
        {
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }

    public static bool IsSafeName(string name) => SafeName().IsMatch(name) && !name.Contains("..", StringComparison.Ordinal);

    private const string NameRule = "names must be 1-64 characters of letters, digits, '.', '_', '-' or ':', starting with a letter or digit";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
    private static partial Regex SafeName();

    [GeneratedRegex("^0?[0-7]{3}$")]
    private static partial Regex OctalMode();

    [GeneratedRegex("^[a-z_][a-z0-9_-]{0,31}$")]
    private static partial Regex GroupName();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvName();
}

namespace UnifiedLlm.Daemon.Config;

/// <summary>The whole validated configuration, as loaded from one TOML file.</summary>
internal sealed record UllmConfig(
    string SourcePath,
    ServerConfig Server,
    GpuConfig Gpu,
    BackendsConfig Backends,
    ScanConfig Scan,
    IReadOnlyDictionary<string, ModelConfig> Models,
    IReadOnlyDictionary<string, ProviderConfig> Providers,
    RouterConfig Router,
    IReadOnlyDictionary<string, RouteConfig> Routes,
    SecurityConfig Security,
    AuditConfig Audit)
{
    public DownloadsConfig Downloads { get; init; } = DownloadsConfig.Default;
}

internal enum SupervisorKind
{
    Auto,
    Systemd,
    Process,
}

/// <summary>Where ullmd's own log goes: journald's native protocol, stderr, or journald when systemd runs ullmd.</summary>
internal enum LogTarget
{
    Auto,
    Journal,
    Console,
}

internal sealed record ServerConfig(
    string DataDir,
    string OpenAiSocket,
    UnixFileMode OpenAiSocketMode,
    string? TcpListen,
    string AdminSocket,
    string AdminGroup,
    SupervisorKind Supervisor,
    bool StopBackendsOnExit,
    Serilog.Events.LogEventLevel LogLevel,
    long MaxRequestBodyBytes)
{
    public const string AutoSystemdAddress = "auto";

    public LogTarget LogTarget { get; init; } = LogTarget.Auto;

    /// <summary>How to reach systemd: "auto" (its private socket as root, else the system bus) or a D-Bus address.</summary>
    public string SystemdAddress { get; init; } = AutoSystemdAddress;

    public string DatabasePath => Path.Combine(DataDir, "ullm.db");

    /// <summary>Where models with a remote source are downloaded to.</summary>
    public string ModelsDirectory => Path.Combine(DataDir, "models");

    /// <summary>TLS on the TCP listener; null: plain HTTP (refused for a non-loopback address unless <see cref="AllowPlaintext"/>).</summary>
    public TlsConfig? Tls { get; init; }

    /// <summary>Serve a non-loopback tcp_listen without TLS.</summary>
    public bool AllowPlaintext { get; init; }
}

/// <summary>
/// The TCP listener's certificate and private key (PEM, from a file or a systemd credential: a File or Credential
/// <see cref="ApiKeySource"/>), and the CA that client certificates must chain to (mutual TLS), if any.
/// </summary>
internal sealed record TlsConfig(ApiKeySource Certificate, ApiKeySource Key, string? ClientCa);

internal sealed record GpuConfig(string? NvmlLibrary, long ReserveMib, IReadOnlyList<int> Allowed, TimeSpan PollInterval);

internal sealed record BackendsConfig(BackendConfig LlamaCpp, BackendConfig Ollama, BackendConfig Vllm)
{
    public BackendConfig For(BackendKind kind) => kind switch
    {
        BackendKind.LlamaCpp => LlamaCpp,
        BackendKind.Ollama => Ollama,
        BackendKind.Vllm => Vllm,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown backend"),
    };
}

internal enum BackendKind
{
    LlamaCpp,
    Ollama,
    Vllm,
}

internal sealed record BackendConfig(
    bool Enabled,
    string Executable,
    IReadOnlyList<string> ExtraArgs,
    IReadOnlyDictionary<string, string> Environment)
{
    /// <summary>How many instances of this backend may be loaded at once; 0 means no limit.</summary>
    public int MaxLoaded { get; init; }
}

internal sealed record ScanConfig(IReadOnlyList<string> Directories);

/// <summary>A configured local model. <see cref="GpuLayers"/> null means "auto".</summary>
internal sealed record ModelConfig(
    string Name,
    BackendKind Backend,
    string Source,
    IReadOnlyList<string> Aliases,
    int Context,
    int? GpuLayers,
    TimeSpan Ttl,
    int Priority,
    bool Pinned,
    IReadOnlyList<string> ExtraArgs)
{
    /// <summary>The exclusive swap group: loading this model first stops the other loaded members. Null: none.</summary>
    public string? Group { get; init; }

    /// <summary>
    /// Set when the configured source is a URL or an hf: reference: what to download before the first load.
    /// <see cref="Source"/> is then the local path it downloads to.
    /// </summary>
    public RemoteSource? Remote { get; init; }
}

internal enum ProviderKind
{
    OpenAi,
    Anthropic,
}

internal sealed record ProviderConfig(
    string Name,
    ProviderKind Kind,
    Uri BaseUrl,
    ApiKeySource ApiKey,
    IReadOnlyList<string> Models,
    double CostPerMillionInputTokens,
    double CostPerMillionOutputTokens)
{
    /// <summary>The base URL ending in "/", so endpoint paths resolve under it; made once, not per request.</summary>
    public Uri V1Base { get; } = new(BaseUrl.AbsoluteUri.TrimEnd('/') + "/");
}

/// <summary>Where a provider's key comes from; the key itself is read only when needed and never kept in the config.</summary>
internal sealed record ApiKeySource(ApiKeySourceKind Kind, string Value)
{
    public override string ToString() => Kind switch
    {
        ApiKeySourceKind.Environment => $"env:{Value}",
        ApiKeySourceKind.File => $"file:{Value}",
        ApiKeySourceKind.Credential => $"credential:{Value}",
        ApiKeySourceKind.Inline => "inline",
        _ => "none",
    };
}

internal enum ApiKeySourceKind
{
    None,
    Environment,
    File,
    Credential,
    Inline,
}

internal sealed record RouterConfig(IReadOnlyDictionary<string, IReadOnlyList<string>> Fallback, UpstreamTimeouts Timeouts, BreakerConfig Breaker);

/// <summary>Per attempt: connecting to an upstream, waiting for its first token, and waiting between two stream chunks.</summary>
internal sealed record UpstreamTimeouts(TimeSpan Connect, TimeSpan FirstToken, TimeSpan Idle);

/// <summary>Circuit breaker per upstream: opens when this share of at least this many attempts within the window failed.</summary>
internal sealed record BreakerConfig(double FailureRatio, int MinimumRequests, TimeSpan Window, TimeSpan BreakDuration);

internal enum RouteStrategy
{
    LocalFirst,
    CloudFirst,
    CostOptimized,
    LatencyOptimized,
    RoundRobin,
}

internal sealed record RouteConfig(string Name, RouteStrategy Strategy, IReadOnlyList<string> Targets);

internal sealed record SecurityConfig(
    bool RequireKeyOnTcp,
    bool AllowAnonymousUnix,
    int DefaultRequestsPerMinute,
    long DefaultTokensPerMinute)
{
    /// <summary>Whether a caller without an API key may reach cloud providers; false: local models only.</summary>
    public bool AnonymousProviders { get; init; }

    /// <summary>Whether /metrics on the TCP listener answers without an API key.</summary>
    public bool MetricsOpenOnTcp { get; init; }
}

internal sealed record AuditConfig(int RetentionDays, bool LogRequestBodies, int QueueCapacity);

using UnifiedLlm.Daemon.Models.Sizing;
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

    public ResponsesConfig Responses { get; init; } = ResponsesConfig.Default;

    /// <summary>Other ullmd hosts this one routes to (<c>[peers.NAME]</c>), by name.</summary>
    public IReadOnlyDictionary<string, PeerConfig> Peers { get; init; } = new Dictionary<string, PeerConfig>(StringComparer.Ordinal);

    /// <summary>This host as a llama.cpp RPC worker (<c>[rpc_worker]</c>); null: it is none.</summary>
    public RpcWorkerRoleConfig? RpcWorker { get; init; }

    /// <summary>The llama.cpp RPC workers this head may split models across (<c>[rpc_workers.NAME]</c>), by name.</summary>
    public IReadOnlyDictionary<string, RpcWorkerConfig> RpcWorkers { get; init; } = new Dictionary<string, RpcWorkerConfig>(StringComparer.Ordinal);

    public RpcHeadConfig RpcHead { get; init; } = RpcHeadConfig.Default;
}

/// <summary>
/// Another ullmd: its OpenAI listener's base address (requests go to <c>v1/</c> under it, its status to
/// <c>ullm/peer/v1/status</c>), the API key this host presents there, and how often its status is read.
/// </summary>
internal sealed record PeerConfig(string Name, Uri Url, ApiKeySource ApiKey, TimeSpan PollInterval)
{
    public const double DefaultPollSeconds = 2;

    /// <summary>The base address ending in "/", so paths resolve under it.</summary>
    public Uri Root { get; } = new(Url.AbsoluteUri.TrimEnd('/') + "/");

    /// <summary>Its OpenAI API, made once, not per request.</summary>
    public Uri V1Base { get; } = new(Url.AbsoluteUri.TrimEnd('/') + "/v1/");

    /// <summary>How the breaker and status name the peer: never a provider's name, which has no '@'.</summary>
    public string Upstream => "peer@" + Name;
}

internal enum SupervisorKind
{
    Auto,
    Systemd,
    Process,
}

/// <summary>
/// Where ullmd's socket work runs: inline on the socket event threads (a completion continues there, and Kestrel sends
/// from the thread that wrote), or handed to the thread pool at each step, .NET's default.
/// </summary>
internal enum IoScheduling
{
    Inline,
    Pool,
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

    /// <summary>The largest audio upload (/v1/audio/transcriptions and translations), streamed to the backend, never held whole.</summary>
    public long MaxAudioBodyBytes { get; init; } = DefaultMaxAudioBodyBytes;

    public const long DefaultMaxAudioBodyBytes = 100L << 20;

    /// <summary>
    /// How long a load waits for a busy model it must swap out to go idle, that model serving the requests that come for
    /// it meanwhile, before draining it anyway: the bound that keeps alternating requests from starving a model.
    /// </summary>
    public TimeSpan MaxSwapWait { get; init; } = DefaultMaxSwapWait;

    /// <summary>Fixed at start: .NET reads it once, as the first socket is made; a reload that changes it is refused.</summary>
    public IoScheduling IoScheduling { get; init; } = IoScheduling.Inline;

    public static readonly TimeSpan DefaultMaxSwapWait = TimeSpan.FromSeconds(30);

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
    /// <summary>The <c>kind = "generic"</c> backends, by the NAME of their [backends.NAME] table.</summary>
    public IReadOnlyDictionary<string, BackendConfig> Generic { get; init; } = new Dictionary<string, BackendConfig>(StringComparer.Ordinal);

    public BackendConfig For(BackendKind kind) => kind switch
    {
        BackendKind.LlamaCpp => LlamaCpp,
        BackendKind.Ollama => Ollama,
        BackendKind.Vllm => Vllm,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "a generic backend is found by name: use For(ModelConfig)"),
    };

    /// <summary>The backend <paramref name="model"/> runs on: its generic backend by name, else its built-in one.</summary>
    public BackendConfig For(ModelConfig model) =>
        model.Backend == BackendKind.Generic ? Generic[model.BackendKey] : For(model.Backend);
}

internal enum BackendKind
{
    LlamaCpp,
    Ollama,
    Vllm,
    Generic,
}

internal sealed record BackendConfig(
    bool Enabled,
    string Executable,
    IReadOnlyList<string> ExtraArgs,
    IReadOnlyDictionary<string, string> Environment)
{
    /// <summary>How many instances of this backend may be loaded at once; 0 means no limit.</summary>
    public int MaxLoaded { get; init; }

    /// <summary>For a <c>kind = "generic"</c> backend: its command template and what it serves; null for the built-in ones.</summary>
    public GenericCommand? Generic { get; init; }
}

/// <summary>
/// How a generic backend starts and is reached: the argv template (<see cref="Command"/>[0] is the executable;
/// placeholders such as <c>${PORT}</c> are filled per load), the health path and the status that means ready, how long
/// it may take, the path prefix of its OpenAI API, and the endpoints it serves.
/// </summary>
internal sealed record GenericCommand(
    IReadOnlyList<string> Command,
    string HealthPath,
    int HealthStatus,
    TimeSpan ReadyTimeout,
    string ApiPrefix,
    ServedEndpoints Endpoints);

/// <summary>The OpenAI endpoints a backend serves (a generic backend declares them).</summary>
[Flags]
internal enum ServedEndpoints
{
    None = 0,
    Chat = 1,
    Completions = 2,
    Embeddings = 4,
    Rerank = 8,
    Transcriptions = 16,
    Translations = 32,
    Speech = 64,
}

/// <summary>
/// The memory a generic model declares it needs, since ullmd cannot read every model format: RAM, and memory on each
/// of <see cref="GpuCount"/> GPUs. A measurement of a real load replaces it in later plans.
/// </summary>
internal sealed record DeclaredFootprint(ulong HostBytes, ulong GpuBytesPerGpu, int GpuCount);

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
    /// <summary>llama.cpp request slots when the model fits with room (<c>parallel</c>).</summary>
    public const int DefaultParallel = 4;

    /// <summary>The shortest context the planner may shrink a load to when <c>min_context</c> is not set (or the context, if shorter).</summary>
    public const int DefaultMinContext = 2048;

    /// <summary>The exclusive swap group: loading this model first stops the other loaded members. Null: none.</summary>
    public string? Group { get; init; }

    /// <summary>
    /// Set when the configured source is a URL or an hf: reference: what to download before the first load.
    /// <see cref="Source"/> is then the local path it downloads to.
    /// </summary>
    public RemoteSource? Remote { get; init; }

    /// <summary>For a model on a generic backend: that backend's NAME in [backends.NAME]; null for the built-in ones.</summary>
    public string? GenericBackend { get; init; }

    /// <summary>For a model on a generic backend: the memory it declares; null for the built-in backends, which ullmd sizes.</summary>
    public DeclaredFootprint? Declared { get; init; }

    /// <summary>The backend's name in the config: the key of its [backends.KEY] table and the model's backend value.</summary>
    public string BackendKey => GenericBackend ?? ConfigLoader.KeyOf(Backend);

    /// <summary>Requests llama-server serves at once, each with <see cref="Context"/> tokens of KV cache of its own.</summary>
    public int Parallel { get; init; } = DefaultParallel;

    /// <summary>The fewest slots the planner may fall back to before it shortens the context.</summary>
    public int MinParallel { get; init; } = 1;

    /// <summary>The shortest per-request context the planner may fall back to; 0: <see cref="DefaultMinContext"/>.</summary>
    public int MinContext { get; init; }

    /// <summary>The context floor the planners shrink to: <see cref="MinContext"/>, or <see cref="DefaultMinContext"/> when unset.</summary>
    public ulong MinContextFloor => MinContext > 0 ? (ulong)MinContext : DefaultMinContext;

    /// <summary>The ggml types of the K and V caches.</summary>
    public KvCacheType CacheType { get; init; } = KvCacheType.F16;

    public FlashAttention FlashAttn { get; init; } = FlashAttention.Auto;

    /// <summary>The GPU indices this model may use; empty: any the daemon may use.</summary>
    public IReadOnlyList<int> Gpus { get; init; } = [];

    /// <summary>The exact-match response cache for requests naming this model or an alias; null: off.</summary>
    public CacheConfig? Cache { get; init; }

    /// <summary>For a vLLM model served across nodes: its pipeline stages and the Ray cluster they run on; null: this host only.</summary>
    public VllmCluster? Cluster { get; init; }
}

/// <summary>
/// A vLLM engine whose layers are split into <see cref="PipelineParallelSize"/> stages over the nodes of the Ray cluster
/// at <see cref="RayAddress"/> (<c>host:port</c> of its head, or <c>auto</c> for the cluster this host has joined).
/// </summary>
internal sealed record VllmCluster(int PipelineParallelSize, string RayAddress);

/// <summary>llama-server's <c>--flash-attn</c>: on, off, or its own choice (a quantized V cache makes it choose on).</summary>
internal enum FlashAttention
{
    Auto,
    On,
    Off,
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

    /// <summary>Whether the provider serves OpenAI's Responses API itself: /v1/responses is relayed to it, not translated to chat.</summary>
    public bool ResponsesApi { get; init; }
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

internal sealed record RouterConfig(IReadOnlyDictionary<string, IReadOnlyList<string>> Fallback, UpstreamTimeouts Timeouts, BreakerConfig Breaker)
{
    /// <summary>
    /// <c>loading_notice</c>: a streaming chat request that waits on a cold load is told each stage of the load as
    /// reasoning content before the first token. Off by default: a client that shows reasoning shows the notice too.
    /// </summary>
    public bool LoadingNotice { get; init; }
}

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

internal sealed record RouteConfig(string Name, RouteStrategy Strategy, IReadOnlyList<string> Targets)
{
    /// <summary>The exact-match response cache for requests naming this route; null: off.</summary>
    public CacheConfig? Cache { get; init; }
}

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

internal sealed record AuditConfig(int RetentionDays, int QueueCapacity);

/// <summary>/v1/responses: whether a request without <c>store</c> is stored, and for how long stored responses are kept.</summary>
internal sealed record ResponsesConfig(bool StoreByDefault, int RetentionDays)
{
    public static ResponsesConfig Default { get; } = new(true, 30);
}

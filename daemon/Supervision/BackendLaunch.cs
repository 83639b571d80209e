namespace UnifiedLlm.Daemon.Supervision;

/// <summary>Everything a supervisor needs to start one backend process, whatever the supervisor.</summary>
internal sealed record BackendLaunch
{
    /// <summary><c>ullm-&lt;escaped model&gt;-&lt;id&gt;.service</c> (<see cref="Systemd.UnitName.ForModel"/>).</summary>
    public required string UnitName { get; init; }

    /// <summary>The configured model (or "ollama" for the shared Ollama server).</summary>
    public required string Model { get; init; }

    public required string ExecPath { get; init; }

    /// <summary>argv[1..]; passed verbatim, never expanded.</summary>
    public required IReadOnlyList<string> Arguments { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>GPU indices (NVML order) the backend may use; empty in CPU mode.</summary>
    public IReadOnlyList<int> GpuIndices { get; init; } = [];

    /// <summary>Paths the backend may read (model files and directories); the rest of the system stays out of reach.</summary>
    public IReadOnlyList<string> ReadOnlyPaths { get; init; } = [];

    /// <summary>Paths the backend may write (e.g. Ollama's model store).</summary>
    public IReadOnlyList<string> ReadWritePaths { get; init; } = [];

    public ulong? MemoryMaxBytes { get; init; }

    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(30);

    public TimeSpan StopTimeout { get; init; } = DefaultStopTimeout;
}

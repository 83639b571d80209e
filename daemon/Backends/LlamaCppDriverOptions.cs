namespace UnifiedLlm.Daemon.Backends;

/// <summary>How long a llama-server may take to load, and how often its /health is polled meanwhile.</summary>
internal sealed record LlamaCppDriverOptions
{
    public TimeSpan LoadTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Readiness must be seen within 10 ms of llama-server reporting it.</summary>
    public TimeSpan HealthPollInterval { get; init; } = TimeSpan.FromMilliseconds(5);

    public int FailureLogLines { get; init; } = 20;
}

namespace UnifiedLlm.Daemon.Backends;

/// <summary>How long a llama-server may take to load (its /health is polled meanwhile as <see cref="ReadinessPolling"/> says).</summary>
internal sealed record LlamaCppDriverOptions
{
    public TimeSpan LoadTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

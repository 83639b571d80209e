namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// Bounds on waiting: per-model queue length and deadline, lease drain before an eviction, the backoff after failed
/// loads, the crash breaker, the health checks of ready backends.
/// </summary>
internal sealed record SchedulerOptions
{
    public int QueueCapacity { get; init; } = 64;

    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>What a 429 tells the client to wait.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The wait after the second failed load in a row; it doubles with each further failure.</summary>
    public TimeSpan BackoffFirst { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan BackoffCap { get; init; } = TimeSpan.FromMinutes(5);

    public int CrashLimit { get; init; } = 3;

    public TimeSpan CrashWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often a ready backend's health endpoint is asked; a busy llama-server still answers it.</summary>
    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan HealthTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Failed checks in a row after which the backend counts as crashed (and is stopped).</summary>
    public int HealthFailures { get; init; } = 3;
}

namespace UnifiedLlm.Daemon.Events;

/// <summary>Something an admin wants to see happen: a load, an eviction, a failure, a breaker change, a config reload.</summary>
internal sealed record DaemonEvent(
    DateTimeOffset Time,
    string Kind,
    string Message,
    string? Model = null,
    string? Unit = null,
    string? State = null,
    string? RequestId = null);

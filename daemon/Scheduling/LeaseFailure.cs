namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>Why the scheduler refused a lease, a load or an unload: the stage that said no.</summary>
internal enum LeaseFailureKind
{
    /// <summary>No configured model has this name or alias.</summary>
    UnknownModel,

    /// <summary>The request itself is wrong for this model (e.g. per-load overrides on a backend that takes none).</summary>
    BadArgument,

    /// <summary>The model is loaded or loading with other per-load overrides than those asked for.</summary>
    Conflict,

    /// <summary>An unload of a model that has no ready instance.</summary>
    NotLoaded,

    /// <summary>The bounded queue of requests waiting for the model's load is full.</summary>
    QueueFull,

    /// <summary>The model is being switched out for another (<c>ullmctl switch</c>) until that one is ready or failed.</summary>
    SwitchedOut,

    /// <summary>The load did not finish within the queue timeout.</summary>
    NotReadyInTime,

    /// <summary>Loads on demand back off after failed loads.</summary>
    BackingOff,

    /// <summary>The model crashed too often and is held failed until loaded explicitly or the config is reloaded.</summary>
    HeldAfterCrashes,

    /// <summary>The planner or an eviction rule (a pinned group member, <c>max_loaded</c>) finds no room.</summary>
    DoesNotFit,

    /// <summary>Reading, downloading or starting the model failed; the reason names the stage.</summary>
    LoadFailed,

    /// <summary>ullmd is stopping.</summary>
    ShuttingDown,
}

/// <summary>
/// A refusal as data: what failed, for which model, the reason a person can act on (the planner's or the backend's
/// words), and when asking again may succeed. The gateway maps it to HTTP and the admin API to gRPC.
/// </summary>
internal sealed record LeaseFailure(LeaseFailureKind Kind, string Model, string Reason, TimeSpan? RetryAfter = null);

using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The scheduler's state for one configured model: its current instance, the single load in flight with the requests
/// waiting for it, failed loads in a row, recent crashes and, once they reach the limit, why the model is held failed.
/// Mutated only on the scheduler's loop (<see cref="SchedulerLoop"/>).
/// </summary>
internal sealed class ModelSlot(ModelConfig config)
{
    public ModelConfig Config { get; set; } = config;

    public ModelInstance? Instance { get; set; }

    public PendingLoad? Loading { get; set; }

    public LoadBackoff Backoff { get; set; } = LoadBackoff.None;

    /// <summary>The crashes within the crash window, oldest first (<see cref="Policy.CrashWindow"/>).</summary>
    public IReadOnlyList<DateTimeOffset> Crashes { get; set; } = [];

    public string? HeldFailed { get; set; }

    public DateTimeOffset HeldSince { get; set; }

    /// <summary>The TTL timer armed on the ready instance (the timer itself is the effect runner's).</summary>
    public TtlArm? Ttl { get; set; }

    /// <summary>The model this one is being switched out for: until that load ends, this one is neither leased nor loaded.</summary>
    public string? SwitchedOutFor { get; set; }
}

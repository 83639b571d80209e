using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The single load in flight for a model and how many requests wait for it. When the instance becomes ready, each
/// waiter still there is granted a lease at once (<see cref="Granted"/>), so no eviction or swap that starts before the
/// waiters wake can take the instance from under them. <see cref="Overrides"/> are the explicit load's, if one began it.
/// Mutated only on the scheduler's loop (<see cref="SchedulerLoop"/>).
/// </summary>
internal sealed class PendingLoad
{
    public PendingLoad(LoadOverrides overrides, Func<PendingLoad, Task<Outcome<ModelInstance>>> start)
    {
        Overrides = overrides;
        Completion = start(this);
    }

    public LoadOverrides Overrides { get; }

    public Task<Outcome<ModelInstance>> Completion { get; }

    public int Waiters { get; set; }

    /// <summary>The instance, once ready, on which every waiter then registered holds a lease.</summary>
    public ModelInstance? Granted { get; set; }
}

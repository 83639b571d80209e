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
    private readonly TaskCompletionSource<Outcome<ModelInstance>> granted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PendingLoad(LoadOverrides overrides, Func<PendingLoad, Task<Outcome<ModelInstance>>> start)
    {
        Overrides = overrides;
        Completion = start(this);
    }

    public LoadOverrides Overrides { get; }

    public Task<Outcome<ModelInstance>> Completion { get; }

    public int Waiters { get; set; }

    /// <summary>The instance, once ready, on which every waiter then registered holds a lease.</summary>
    public ModelInstance? Granted { get; private set; }

    /// <summary>
    /// The instance as soon as it is granted, or the load's failure. A waiter goes on at the grant, while the load's own
    /// bookkeeping after it (the slot's load cleared, the admission ended) runs beside its request.
    /// </summary>
    public async Task<Outcome<ModelInstance>> GrantedOrFailedAsync() =>
        await await Task.WhenAny(granted.Task, Completion).ConfigureAwait(false);

    /// <summary>On the loop, as the instance becomes ready, with a lease granted for each waiter: wakes them.</summary>
    public void Grant(ModelInstance instance)
    {
        Granted = instance;
        granted.TrySetResult(instance);
    }
}

using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The runtime handle of a model's single load in flight, known by <see cref="Id"/>, the id the scheduler's state holds
/// it by (with the callers waiting for it, <see cref="Policy.SlotLoad"/>). When the instance becomes ready, each waiter
/// still there is granted a lease at once (<see cref="Granted"/>), in the same handler that ends the load
/// (<see cref="Ended"/>), so no eviction or swap that starts before the waiters wake can take the instance from under
/// them, and none sees a waiter's lease while the load still counts as in flight. <see cref="Overrides"/> are the
/// explicit load's, if one began it. Mutated only on the scheduler's loop (<see cref="SchedulerLoop"/>).
/// </summary>
internal sealed class PendingLoad
{
    private readonly TaskCompletionSource<Outcome<ModelInstance>> woken = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PendingLoad(long id, LoadOverrides overrides, Func<PendingLoad, Task<Outcome<ModelInstance>>> start)
    {
        Id = id;
        Overrides = overrides;
        Completion = start(this);
    }

    public long Id { get; }

    public LoadOverrides Overrides { get; }

    /// <summary>The load's task: ends after its bookkeeping (the "load" event), later than the waiters may go on.</summary>
    public Task<Outcome<ModelInstance>> Completion { get; }

    /// <summary>The instance, once ready, on which every waiter then registered holds a lease.</summary>
    public ModelInstance? Granted { get; set; }

    /// <summary>The load no longer counts as in flight: its handle forgotten, its admission ended.</summary>
    public bool Ended { get; set; }

    /// <summary>The granted instance as soon as the waiters are woken (<see cref="Wake"/>), or the load's failure as soon as it is decided (<see cref="Refuse"/>).</summary>
    public async Task<Outcome<ModelInstance>> ReadyOrFailedAsync()
    {
        var first = await Task.WhenAny(woken.Task, Completion).ConfigureAwait(false);
        return await first.ConfigureAwait(false);
    }

    /// <summary>On the loop, as the load is decided failed: the waiters go on with <paramref name="failure"/>, the load's own.</summary>
    public void Refuse(LeaseFailure failure) => woken.TrySetResult(failure);

    /// <summary>Off the loop, once the view showing <see cref="Granted"/> ready is published: the waiters go on.</summary>
    public void Wake() => woken.TrySetResult(Granted ?? throw new InvalidOperationException("no instance granted to wake the waiters with"));
}

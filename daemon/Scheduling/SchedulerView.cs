using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// What the scheduler's synchronous readers (status, metrics, model lists, plan previews) see: read from its state and
/// the runtime handles it names, published by the loop after each batch of events and before anyone it answers goes on.
/// </summary>
internal sealed record SchedulerView(
    IReadOnlyList<PublishedInstance> Instances,
    IReadOnlyList<SlotHold> Holds,
    IReadOnlyDictionary<string, int> QueueDepths,
    IReadOnlyList<LoadedMember> Members,
    IReadOnlyList<LoadedInstance> Loaded,
    IReadOnlyList<LoadReservation> Reservations)
{
    public static readonly SchedulerView Empty = new([], [], new Dictionary<string, int>(), [], [], []);
}

/// <summary>
/// An instance as the loop described it (<see cref="Info"/>), with the instance itself for the two things that change
/// off the loop (the lease fast path): its lease count and last use.
/// </summary>
internal sealed record PublishedInstance(InstanceInfo Info, ModelInstance Instance)
{
    /// <summary>The description with the lease count and last use as they are now.</summary>
    public InstanceInfo Now() => Info with { Leases = Instance.Leases, LastUsed = Instance.LastUsed };
}

/// <summary>What decides whether a model's loads on demand are held: its crash hold and its backoff, as they stood.</summary>
internal sealed record SlotHold(
    string Model, string? HeldFailed, DateTimeOffset HeldSince, int Crashes, int Failures, DateTimeOffset LastFailedAt, DateTimeOffset? Until, string LastReason)
{
    /// <summary>The hold at <paramref name="now"/>, or null; a config loaded at <paramref name="configLoadedAt"/>, after the hold began, ended it.</summary>
    public LoadHold? At(DateTimeOffset configLoadedAt, DateTimeOffset now)
    {
        if (HeldFailed is { } held && configLoadedAt <= HeldSince)
        {
            return new LoadHold(Model, LoadHoldKind.CrashLoop, null, Crashes, held);
        }

        var backoffEnded = Failures > 0 && configLoadedAt > LastFailedAt;
        return !backoffEnded && Until is { } until && until > now ? new LoadHold(Model, LoadHoldKind.Backoff, until, Failures, LastReason) : null;
    }
}

using System.Collections.Immutable;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>Where an instance stands, as the decisions see it (the store's states, less those a load goes through before it is ready).</summary>
internal enum InstancePhase
{
    /// <summary>Begun by a load that has not ended yet.</summary>
    Loading,

    Ready,

    /// <summary>Closed to new leases, stopping once its leases end.</summary>
    Draining,

    Stopped,

    Failed,
}

/// <summary>A model's instance: its id (the key of its runtime handle), where it stands, the config it was started with and the overrides it was loaded with.</summary>
internal sealed record SlotInstance(string Id, InstancePhase Phase, ModelConfig Config, LoadOverrides Overrides);

/// <summary>A model's single load in flight: its id, the overrides of the explicit load that began it, and the callers waiting for it, first first.</summary>
internal sealed record SlotLoad(long Id, LoadOverrides Overrides, ImmutableList<long> Waiters);

/// <summary>Why a model is held failed after crashes, and since when (a config loaded later ends it).</summary>
internal sealed record CrashHold(string Reason, DateTimeOffset Since);

/// <summary>The TTL timer armed on the model's ready instance: its id (only the latest one counts), when it is due, and the ttl it was armed for.</summary>
internal sealed record TtlArm(long Id, DateTimeOffset Due, TimeSpan Ttl);

/// <summary>
/// One configured model as the scheduler's decisions see it: its current instance, its load in flight with the callers
/// waiting for it, failed loads in a row (<see cref="LoadBackoff"/>), recent crashes and the crash hold they led to, the
/// model it is being switched out for, and its TTL deadline. A value: each decision makes a new one. What is not a
/// value (the instance's lease word and backend, the load's task, the timer) is kept by the effect runner, keyed by
/// the ids held here.
/// </summary>
internal sealed record SlotState(string Model)
{
    public SlotInstance? Instance { get; init; }

    /// <summary>Earlier instances of the model still draining or stopping, replaced as current by a newer one.</summary>
    public ImmutableList<string> Retiring { get; init; } = [];

    public SlotLoad? Loading { get; init; }

    public LoadBackoff Backoff { get; init; } = LoadBackoff.None;

    /// <summary>The crashes within the crash window, oldest first (<see cref="CrashWindow"/>).</summary>
    public IReadOnlyList<DateTimeOffset> Crashes { get; init; } = [];

    public CrashHold? Held { get; init; }

    /// <summary>The model this one is being switched out for: until that switch ends, this one is neither leased nor loaded.</summary>
    public string? SwitchedOutFor { get; init; }

    public TtlArm? Ttl { get; init; }

    /// <summary>The instance, when it is ready.</summary>
    public SlotInstance? Ready => Instance is { Phase: InstancePhase.Ready } ready ? ready : null;

    /// <summary>The crash hold and the backoff, as <see cref="HoldExpiry"/> and the status listings read them.</summary>
    public SlotHold Hold => new(Model, Held?.Reason, Held?.Since ?? default, Crashes.Count, Backoff.Failures, Backoff.LastFailedAt, Backoff.Until, Backoff.LastReason);
}

/// <summary>
/// The scheduler's state: a <see cref="SlotState"/> per model asked for, the next id to hand out (loads, TTL timers) and
/// whether ullmd is stopping. Changed only by <see cref="SchedulerDecisions.Decide"/>.
/// </summary>
internal sealed record SchedulerState(ImmutableDictionary<string, SlotState> Slots, long NextId, bool Stopping)
{
    public static readonly SchedulerState Empty = new(ImmutableDictionary.Create<string, SlotState>(StringComparer.Ordinal), 1, false);

    /// <summary><paramref name="model"/>'s slot; an empty one when it was never asked for.</summary>
    public SlotState Slot(string model) => Slots.TryGetValue(model, out var slot) ? slot : new SlotState(model);

    public SchedulerState With(SlotState slot) => this with { Slots = Slots.SetItem(slot.Model, slot) };

    /// <summary>True when <paramref name="armId"/> is the TTL timer armed on <paramref name="instanceId"/>, still ready: the one whose firing counts.</summary>
    public bool IsArmed(string model, string instanceId, long armId) =>
        Slot(model) is { Ttl.Id: var armed, Ready.Id: var ready } && armed == armId && ready == instanceId;
}

/// <summary>What a decision needs of the config in force: the configured models by name, and when that config was loaded (it ends the holds that began before).</summary>
internal sealed record ConfigView(IReadOnlyDictionary<string, ModelConfig> Models, DateTimeOffset LoadedAt);

/// <summary>What a decision reads besides the state and the event: the time, the scheduler's options and the config in force.</summary>
internal sealed record DecideContext(DateTimeOffset Now, SchedulerOptions Options, ConfigView Config);

/// <summary>A decision: the state after the event, and the effects to perform, in order.</summary>
internal sealed record Decision(SchedulerState Next, IReadOnlyList<SchedulerEffect> Effects);

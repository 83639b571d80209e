using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// Everything that happens to the scheduler, as <see cref="SchedulerDecisions.Decide"/> takes it: a caller's request or
/// admin call, a lease's end, the completion of a slow effect (a load, a stop), a backend lost, a timer, a reload, the
/// end of ullmd. A caller is named by an id its answer effect names again; an instance and a load by the ids the state
/// holds. What only the runtime knows (a lease count, an instance's last use) is read as the event is built and carried
/// in it. A closed hierarchy: every kind is below.
/// </summary>
internal abstract record SchedulerEvent
{
    private SchedulerEvent()
    {
    }

    /// <summary>
    /// A request for <see cref="Model"/> (the name it resolved to; as asked when it resolves to none): a load on demand,
    /// or an explicit load with its overrides (<see cref="Explicit"/>, which also clears the model's holds).
    /// </summary>
    public sealed record RequestArrived(long Caller, string Model, LoadOverrides? Explicit) : SchedulerEvent;

    /// <summary>A caller waiting for <see cref="LoadId"/> gave up (cancelled, timed out); <see cref="GrantedOn"/> is the instance on which the load granted it a lease it will not use.</summary>
    public sealed record WaiterLeft(long Caller, string Model, long LoadId, string? GrantedOn) : SchedulerEvent;

    /// <summary>The last lease on a closed instance ended.</summary>
    public sealed record LeaseEnded(string Model, string InstanceId) : SchedulerEvent;

    /// <summary>A load planned <see cref="Instance"/> (still loading), the model's current instance from now on.</summary>
    public sealed record InstancePlanned(string Model, SlotInstance Instance) : SchedulerEvent;

    /// <summary>The load <see cref="LoadId"/> became ready with <see cref="Instance"/>.</summary>
    public sealed record LoadReady(string Model, long LoadId, SlotInstance Instance) : SchedulerEvent;

    /// <summary>
    /// The load <see cref="LoadId"/> failed at <see cref="Stage"/> with <see cref="Failure"/>; <see cref="InstanceId"/> is
    /// the instance it got (null: none).
    /// </summary>
    public sealed record LoadFailed(string Model, long LoadId, string? InstanceId, LoadFailureStage Stage, LeaseFailure Failure) : SchedulerEvent;

    /// <summary>A backend the previous ullmd left running was adopted as <see cref="Model"/>'s ready <see cref="Instance"/>.</summary>
    public sealed record Adopted(string Model, SlotInstance Instance) : SchedulerEvent;

    /// <summary>The backend of <see cref="InstanceId"/> exited or stopped answering its health checks, with why.</summary>
    public sealed record BackendLost(string Model, string InstanceId, string Failure) : SchedulerEvent;

    /// <summary>
    /// The TTL timer <see cref="ArmId"/> on <see cref="InstanceId"/> fired; <see cref="Leased"/> when a lease was held
    /// as it tried to close the instance, <see cref="LastUsed"/> the instance's last use read after that.
    /// </summary>
    public sealed record TtlDue(string Model, string InstanceId, long ArmId, bool Leased, DateTimeOffset LastUsed) : SchedulerEvent;

    /// <summary>A load chose <see cref="InstanceId"/> to stop before it starts, for <see cref="Reason"/>.</summary>
    public sealed record EvictionChosen(string Model, string InstanceId, string Reason) : SchedulerEvent;

    /// <summary>The stop of <see cref="InstanceId"/> begun for <see cref="Reason"/> ended; <see cref="Failure"/> when the backend could not be stopped.</summary>
    public sealed record StopEnded(string Model, string InstanceId, string Kind, string Reason, string? Failure) : SchedulerEvent;

    /// <summary>An admin unload; <see cref="Leases"/> is what the instance held as it was closed, ended at once when <see cref="Force"/>.</summary>
    public sealed record UnloadAsked(long Caller, string Model, bool Force, int Leases) : SchedulerEvent;

    /// <summary>An admin switch from <see cref="From"/> to <see cref="To"/> begins.</summary>
    public sealed record SwitchBegun(long Caller, string From, string To) : SchedulerEvent;

    /// <summary>The load of <see cref="From"/> that a switch found in flight ended: what it left is stopped now.</summary>
    public sealed record SwitchedLoadEnded(long Caller, string From, string To) : SchedulerEvent;

    /// <summary>A switch out of <see cref="From"/> ended (its replacement ready or failed, or the switch given up).</summary>
    public sealed record SwitchEnded(string From) : SchedulerEvent;

    /// <summary>The config was replaced; <see cref="LastUsed"/> holds each ready instance's last use, by model.</summary>
    public sealed record ConfigReplaced(UllmConfig Old, UllmConfig Next, IReadOnlyDictionary<string, DateTimeOffset> LastUsed) : SchedulerEvent;

    /// <summary>ullmd stops: its backends are stopped, or left running for the next ullmd to adopt.</summary>
    public sealed record Stop(bool StopBackends) : SchedulerEvent;
}

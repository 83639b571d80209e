using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// What a decision asks the effect runner to do, in order. Quick effects (answers, the fast path's open bit, records,
/// events, timers) are done on the loop; slow ones (a load, a drain and stop, cleaning up after a lost backend) begin
/// there and post their completion back as a <see cref="SchedulerEvent"/>. A closed hierarchy: every kind is below.
/// </summary>
internal abstract record SchedulerEffect
{
    private SchedulerEffect()
    {
    }

    /// <summary>Begin the load <see cref="LoadId"/> of <see cref="Model"/> (slow: it ends in a load ready or failed).</summary>
    public sealed record BeginLoad(string Model, long LoadId, LoadOverrides Overrides) : SchedulerEffect;

    /// <summary>Answer <see cref="Caller"/> with a lease on the ready <see cref="InstanceId"/>.</summary>
    public sealed record LeaseOnReady(long Caller, string InstanceId) : SchedulerEffect;

    /// <summary>Answer every caller waiting for the load <see cref="LoadId"/> with a lease on the now ready <see cref="InstanceId"/>.</summary>
    public sealed record GrantWaiters(long LoadId, string InstanceId, IReadOnlyList<long> Callers) : SchedulerEffect;

    /// <summary>Answer every caller waiting for the failed load <see cref="LoadId"/> with <see cref="Failure"/>.</summary>
    public sealed record RefuseWaiters(long LoadId, IReadOnlyList<long> Callers, LeaseFailure Failure) : SchedulerEffect;

    /// <summary>Answer <see cref="Caller"/> (a request, an admin call) with <see cref="Failure"/>.</summary>
    public sealed record Refuse(long Caller, LeaseFailure Failure) : SchedulerEffect;

    /// <summary>Give back the lease a load granted to a caller that left before it used it.</summary>
    public sealed record ReturnLease(string InstanceId) : SchedulerEffect;

    /// <summary>Answer an unload: <see cref="InstanceId"/> is stopping with <see cref="Leases"/>, which are revoked at once when <see cref="Force"/>.</summary>
    public sealed record AnswerUnload(long Caller, string InstanceId, int Leases, bool Force) : SchedulerEffect;

    /// <summary>
    /// Answer a switch: wait for the load <see cref="AwaitLoad"/> in flight first, or (null) go on once the stop of
    /// <see cref="Stopping"/> (null: nothing to stop) is done.
    /// </summary>
    public sealed record AnswerSwitch(long Caller, long? AwaitLoad, string? Stopping) : SchedulerEffect;

    /// <summary>Let <see cref="InstanceId"/> take leases off the loop (the fast path).</summary>
    public sealed record Open(string Model, string InstanceId) : SchedulerEffect;

    /// <summary>Take no lease on <see cref="InstanceId"/> off the loop from now on.</summary>
    public sealed record Close(string Model, string InstanceId) : SchedulerEffect;

    /// <summary>Arm <see cref="Model"/>'s TTL timer <see cref="ArmId"/> on <see cref="InstanceId"/>, due at <see cref="Due"/> however late it is armed; it replaces the one armed before.</summary>
    public sealed record ArmTtl(string Model, string InstanceId, long ArmId, DateTimeOffset Due) : SchedulerEffect;

    /// <summary>Disarm <see cref="Model"/>'s TTL timer.</summary>
    public sealed record CancelTtl(string Model) : SchedulerEffect;

    /// <summary>Move <see cref="InstanceId"/> to <see cref="Phase"/> for <see cref="Reason"/>, in memory and in the store (the recorder's write).</summary>
    public sealed record Record(string InstanceId, InstancePhase Phase, string? Reason) : SchedulerEffect;

    /// <summary>
    /// Publish an event to WatchEvents subscribers and the journal, about <see cref="InstanceId"/> when set, else about
    /// <see cref="Model"/> when set (a load that failed before it had an instance).
    /// </summary>
    public sealed record Publish(string Kind, string Message, string? InstanceId) : SchedulerEffect
    {
        public string? Model { get; init; }
    }

    /// <summary>Drain <see cref="InstanceId"/> (now draining) and stop it (slow: it ends in a stop ended), announced as <see cref="Kind"/>.</summary>
    public sealed record DrainAndStop(string Model, string InstanceId, string Kind, string Reason) : SchedulerEffect;

    /// <summary>The one that asked waits for the stop of <see cref="InstanceId"/>, begun by now.</summary>
    public sealed record AwaitStop(string InstanceId) : SchedulerEffect;

    /// <summary>The instance counts as drained now: whatever its leases, its stop need not wait for them.</summary>
    public sealed record CompleteDrain(string InstanceId) : SchedulerEffect;

    /// <summary>
    /// The backend of <see cref="InstanceId"/> is lost: its lease holders hear <see cref="LostReason"/> at once; then (slow)
    /// <see cref="Published"/> is published with its last output and what is left of it is stopped.
    /// </summary>
    public sealed record CleanUpLost(string InstanceId, string LostReason, string Published) : SchedulerEffect;

    /// <summary>Leave <see cref="InstanceId"/> running for the next ullmd to adopt.</summary>
    public sealed record LeaveRunning(string InstanceId) : SchedulerEffect;
}

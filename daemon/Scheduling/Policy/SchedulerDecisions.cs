using UnifiedLlm.Daemon.Config;
using Effect = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEffect;
using Event = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEvent;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// The scheduler's decisions as one function: the state after an event, and the effects it calls for. Each event is
/// decided by the policy made for it (<see cref="RequestArrival"/>, <see cref="HoldExpiry"/>, <see cref="TtlExpiry"/>,
/// <see cref="FailedLoad"/>, <see cref="CrashWindow"/>, <see cref="SwapVictims"/>, <see cref="ConfigReload"/>); this
/// composes them over the whole state and names what follows as effects, so that the loop only applies them. Pure: no
/// clock, no database, no file, no process.
/// </summary>
internal static class SchedulerDecisions
{
    public static Decision Decide(SchedulerState state, Event happened, DecideContext context)
    {
        var effects = new List<Effect>();
        var next = happened switch
        {
            Event.RequestArrived e => RequestArrived(state, e, context, effects),
            Event.WaiterLeft e => WaiterLeft(state, e, effects),
            Event.LeaseEnded e => LeaseEnded(state, e, effects),
            Event.InstancePlanned e => InstancePlanned(state, e),
            Event.LoadReady e => LoadReady(state, e, context, effects),
            Event.Adopted e => Adopted(state, e, context, effects),
            Event.LoadFailed e => LoadFailed(state, e, context, effects),
            Event.BackendLost e => BackendLost(state, e, context, effects),
            Event.TtlDue e => TtlDue(state, e, context, effects),
            Event.EvictionChosen e => EvictionChosen(state, e, effects),
            Event.StopEnded e => StopEnded(state, e, effects),
            Event.UnloadAsked e => UnloadAsked(state, e, effects),
            Event.SwitchBegun e => SwitchBegun(state, e, effects),
            Event.SwitchedLoadEnded e => StopSwitchedOut(state, e.Caller, e.From, e.To, effects),
            Event.SwitchEnded e => SwitchEnded(state, e, effects),
            Event.ConfigReplaced e => ConfigReplaced(state, e, context, effects),
            Event.Stop e => Stop(state, e, effects),
            _ => throw new ArgumentOutOfRangeException(nameof(happened), happened, "no decision for this event"),
        };
        return new Decision(next, effects);
    }

    /// <summary>
    /// A request is refused, leased on the ready instance, or waits for the model's load in flight (begun if none is),
    /// as <see cref="RequestArrival"/> decides; an explicit load first clears the holds, and holds a reload ended are forgotten.
    /// </summary>
    private static SchedulerState RequestArrived(SchedulerState state, Event.RequestArrived e, DecideContext context, List<Effect> effects)
    {
        if (!context.Config.Models.ContainsKey(e.Model))
        {
            effects.Add(new Effect.Refuse(e.Caller, RequestArrival.NotConfigured(e.Model)));
            return state;
        }

        var slot = state.Slot(e.Model);
        if (e.Explicit is not null)
        {
            slot = slot with { Held = null, Crashes = [], Backoff = LoadBackoff.None };
        }

        var settled = HoldExpiry.Settle(slot.Hold, context.Config.LoadedAt, context.Now);
        slot = slot with
        {
            Held = settled.ForgetsCrashHold ? null : slot.Held,
            Backoff = settled.ForgetsBackoff ? LoadBackoff.None : slot.Backoff,
        };
        var arriving = new ArrivingSlot(
            e.Model, slot.SwitchedOutFor, settled.Current, slot.Ready?.Overrides, slot.Loading is { } loading ? new LoadInFlight(loading.Waiters.Count, loading.Overrides) : null);
        switch (RequestArrival.Decide(e.Model, arriving, e.Explicit, context.Options, context.Now))
        {
            case Arrival.Refused refused:
                effects.Add(new Effect.Refuse(e.Caller, refused.Failure));
                return state.With(slot);
            case Arrival.LeasedOnReady:
                // Open even if its TTL timer closed it as it fired: this request came first.
                OpenIfServing(state, slot, effects);
                effects.Add(new Effect.LeaseOnReady(e.Caller, slot.Ready!.Id));
                return state.With(slot);
            case Arrival.BeginsLoad begins:
                effects.Add(new Effect.BeginLoad(e.Model, state.NextId, begins.Overrides));
                return state.With(slot with { Loading = new SlotLoad(state.NextId, begins.Overrides, [e.Caller]) }) with { NextId = state.NextId + 1 };
            default:
                return state.With(slot with { Loading = slot.Loading! with { Waiters = slot.Loading.Waiters.Add(e.Caller) } });
        }
    }

    /// <summary>A caller gave up waiting: it no longer counts among the load's waiters, and a lease the load granted it is given back.</summary>
    private static SchedulerState WaiterLeft(SchedulerState state, Event.WaiterLeft e, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        if (e.GrantedOn is { } instance)
        {
            effects.Add(new Effect.ReturnLease(instance));
        }

        return slot.Loading is { } loading && loading.Id == e.LoadId
            ? state.With(slot with { Loading = loading with { Waiters = loading.Waiters.Remove(e.Caller) } })
            : state;
    }

    /// <summary>The last lease on a closed instance ended: one draining is drained.</summary>
    private static SchedulerState LeaseEnded(SchedulerState state, Event.LeaseEnded e, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        if (slot.Instance is { Phase: InstancePhase.Draining, Id: var id } && id == e.InstanceId || slot.Retiring.Contains(e.InstanceId))
        {
            effects.Add(new Effect.CompleteDrain(e.InstanceId));
        }

        return state;
    }

    /// <summary>A load's planned instance is the model's current one; one still draining that it replaces retires.</summary>
    private static SchedulerState InstancePlanned(SchedulerState state, Event.InstancePlanned e)
    {
        var slot = state.Slot(e.Model);
        var retiring = slot.Instance is { Phase: InstancePhase.Draining } draining ? slot.Retiring.Add(draining.Id) : slot.Retiring;
        return state.With(slot with { Instance = e.Instance with { Phase = InstancePhase.Loading }, Retiring = retiring });
    }

    /// <summary>
    /// The load is ready: its waiters are granted their leases in this same decision, before anything can begin evicting
    /// the instance; it is opened unless switched out, its TTL armed, and the model's backoff ends.
    /// </summary>
    private static SchedulerState LoadReady(SchedulerState state, Event.LoadReady e, DecideContext context, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        var waiters = slot.Loading is { } loading && loading.Id == e.LoadId ? loading.Waiters : [];
        var ready = e.Instance with { Phase = InstancePhase.Ready };
        var retiring = slot.Instance is { Phase: InstancePhase.Draining } draining ? slot.Retiring.Add(draining.Id) : slot.Retiring;
        slot = slot with { Instance = ready, Retiring = retiring, Loading = null, Backoff = LoadBackoff.None };
        effects.Add(new Effect.Record(ready.Id, InstancePhase.Ready, null));
        effects.Add(new Effect.GrantWaiters(e.LoadId, ready.Id, waiters));
        OpenIfServing(state, slot, effects);
        return ArmTtl(state, slot, ready, context.Config.Models.GetValueOrDefault(e.Model) ?? ready.Config, null, context, effects);
    }

    /// <summary>An adopted backend is the model's ready instance: it is opened unless switched out, and its TTL armed.</summary>
    private static SchedulerState Adopted(SchedulerState state, Event.Adopted e, DecideContext context, List<Effect> effects)
    {
        var slot = state.Slot(e.Model) with { Instance = e.Instance };
        OpenIfServing(state, slot, effects);
        return ArmTtl(state, slot, e.Instance, context.Config.Models.GetValueOrDefault(e.Model) ?? e.Instance.Config, null, context, effects);
    }

    /// <summary>The load failed: its waiters hear why, its instance (if it got one) is failed, and the backoff is as <see cref="FailedLoad"/> decides.</summary>
    private static SchedulerState LoadFailed(SchedulerState state, Event.LoadFailed e, DecideContext context, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        var ours = slot.Loading is { } loading && loading.Id == e.LoadId;
        var verdict = FailedLoad.Decide(slot.Backoff, e.Stage, e.Failure, context.Now, context.Options);
        effects.Add(new Effect.RefuseWaiters(e.LoadId, ours ? slot.Loading!.Waiters : [], e.Failure));
        if (e.InstanceId is { } instance)
        {
            effects.Add(new Effect.Record(instance, InstancePhase.Failed, e.Failure.Reason));
        }

        effects.Add(new Effect.Publish("failure", verdict.Published, e.InstanceId) { Model = e.Model });
        var failed = slot.Instance is { } current && current.Id == e.InstanceId ? current with { Phase = InstancePhase.Failed } : slot.Instance;
        return state.With(slot with { Instance = failed, Loading = ours ? null : slot.Loading, Backoff = verdict.Backoff });
    }

    /// <summary>
    /// A ready instance's backend is lost: out of service at once (its lease holders told), failed, and counted as a
    /// crash (<see cref="CrashWindow"/>), which may hold the model failed. A draining instance exits because it is
    /// stopped; once ullmd stops, what a backend does is not ours to record.
    /// </summary>
    private static SchedulerState BackendLost(SchedulerState state, Event.BackendLost e, DecideContext context, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        if (state.Stopping || slot.Ready?.Id != e.InstanceId)
        {
            return state;
        }

        var lost = CrashWindow.LostReason(e.Model, e.Failure);
        var verdict = CrashWindow.BackendLost(e.Model, e.Failure, slot.Crashes, context.Now, context.Options);
        effects.Add(new Effect.Close(e.Model, e.InstanceId));
        effects.Add(new Effect.Record(e.InstanceId, InstancePhase.Failed, lost));
        effects.Add(new Effect.CancelTtl(e.Model));
        effects.Add(new Effect.CleanUpLost(e.InstanceId, lost, verdict.Reason));
        return state.With(slot with
        {
            Instance = null,
            Ttl = null,
            Crashes = verdict.Window,
            Held = verdict.HeldFailed is { } held ? new CrashHold(held, context.Now) : slot.Held,
        });
    }

    /// <summary>
    /// A TTL timer fired. Only the armed one on the ready instance counts (an older one that closed the instance opens
    /// it again); <see cref="TtlExpiry"/> decides whether the instance stops or is looked at again later.
    /// </summary>
    private static SchedulerState TtlDue(SchedulerState state, Event.TtlDue e, DecideContext context, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        var current = state.IsArmed(e.Model, e.InstanceId, e.ArmId);
        var ttl = slot.Ttl?.Ttl ?? TimeSpan.Zero;
        switch (TtlExpiry.Decide(new TtlCheck(current, current && e.Leased, e.LastUsed), ttl, context.Now))
        {
            case TtlDecision.Reopen:
                OpenIfServing(state, slot, effects);
                return state;
            case TtlDecision.Rearm rearm:
                if (rearm.Reopens)
                {
                    OpenIfServing(state, slot, effects);
                }

                return ArmTtl(state, slot, slot.Ready!, context.Config.Models.GetValueOrDefault(e.Model) ?? slot.Ready!.Config, rearm.Deadline, context, effects);
            case TtlDecision.Stop stop:
                return BeginStop(state, slot, "unload", stop.Reason, effects);
            default:
                return state;
        }
    }

    /// <summary>A load's victim begins to stop if it is still ready, and the load waits for that stop; one already stopping is waited for; one gone is not.</summary>
    private static SchedulerState EvictionChosen(SchedulerState state, Event.EvictionChosen e, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        var current = slot.Instance?.Id == e.InstanceId;
        switch (SwapVictims.Evict(current, slot.Instance?.Phase == InstancePhase.Ready, slot.Instance?.Phase == InstancePhase.Draining))
        {
            case EvictionStep.Stop:
                var stopping = BeginStop(state, slot, "evict", e.Reason, effects);
                effects.Add(new Effect.AwaitStop(e.InstanceId));
                return stopping;
            case EvictionStep.AwaitStop:
                effects.Add(new Effect.AwaitStop(e.InstanceId));
                return state;
            default:
                return state;
        }
    }

    /// <summary>A stop ended: the instance is stopped, or failed when its backend could not be stopped.</summary>
    private static SchedulerState StopEnded(SchedulerState state, Event.StopEnded e, List<Effect> effects)
    {
        var phase = e.Failure is null ? InstancePhase.Stopped : InstancePhase.Failed;
        if (e.Failure is { } failure)
        {
            effects.Add(new Effect.Record(e.InstanceId, InstancePhase.Failed, $"stop failed: {failure}"));
            effects.Add(new Effect.Publish("failure", $"{e.Model}: stopping failed: {failure}", e.InstanceId));
        }
        else
        {
            effects.Add(new Effect.Record(e.InstanceId, InstancePhase.Stopped, e.Reason));
            effects.Add(new Effect.Publish(e.Kind, $"{e.Model}: stopped ({e.Reason})", e.InstanceId));
        }

        var slot = state.Slot(e.Model);
        return state.With(slot with
        {
            Instance = slot.Instance?.Id == e.InstanceId ? slot.Instance with { Phase = phase } : slot.Instance,
            Retiring = slot.Retiring.Remove(e.InstanceId),
        });
    }

    /// <summary>An admin unload drains and stops the ready instance (its leases ended at once when forced); nothing ready is refused.</summary>
    private static SchedulerState UnloadAsked(SchedulerState state, Event.UnloadAsked e, List<Effect> effects)
    {
        var slot = state.Slot(e.Model);
        if (slot.Ready is not { } ready)
        {
            effects.Add(new Effect.Refuse(e.Caller, new LeaseFailure(LeaseFailureKind.NotLoaded, e.Model, $"{e.Model} is not loaded")));
            return state;
        }

        // Closed first: the leases counted in the reason and the answer are all it will have.
        effects.Add(new Effect.Close(e.Model, ready.Id));
        effects.Add(new Effect.AnswerUnload(e.Caller, ready.Id, e.Leases, e.Force));
        var reason = e.Force ? $"unloaded on request with --force, ending {e.Leases} request(s) in flight" : "unloaded on request";
        return BeginStop(state, slot, "unload", reason, effects);
    }

    /// <summary>
    /// A switch out of a model: from now on it is neither leased nor loaded. Its load in flight is waited for first;
    /// otherwise its instance, if ready, begins to stop now. A model already being switched out is refused.
    /// </summary>
    private static SchedulerState SwitchBegun(SchedulerState state, Event.SwitchBegun e, List<Effect> effects)
    {
        var slot = state.Slot(e.From);
        if (slot.SwitchedOutFor is { } other)
        {
            effects.Add(new Effect.Refuse(e.Caller, new LeaseFailure(LeaseFailureKind.Conflict, e.From, $"{e.From} is already being switched out for {other}")));
            return state;
        }

        slot = slot with { SwitchedOutFor = e.To };
        if (slot.Ready is { } ready)
        {
            effects.Add(new Effect.Close(e.From, ready.Id));
        }

        if (slot.Loading is { } loading)
        {
            effects.Add(new Effect.AnswerSwitch(e.Caller, loading.Id, null));
            return state.With(slot);
        }

        return StopSwitchedOut(state.With(slot), e.Caller, e.From, e.To, effects);
    }

    /// <summary>The switched-out model's instance begins to drain, if it is ready; the switch goes on once that stop is done.</summary>
    private static SchedulerState StopSwitchedOut(SchedulerState state, long caller, string from, string to, List<Effect> effects)
    {
        var slot = state.Slot(from);
        var next = slot.Ready is null ? state : BeginStop(state, slot, "unload", $"switched out for {to}", effects);
        effects.Add(new Effect.AnswerSwitch(caller, null, slot.Ready?.Id));
        return next;
    }

    /// <summary>The switch ended: the model may be leased and loaded again; one given up before its stop began serves again.</summary>
    private static SchedulerState SwitchEnded(SchedulerState state, Event.SwitchEnded e, List<Effect> effects)
    {
        var slot = state.Slot(e.From) with { SwitchedOutFor = null };
        OpenIfServing(state, slot, effects);
        return state.With(slot);
    }

    /// <summary>A reload applies to what is loaded at once, as <see cref="ConfigReload"/> decides for each model.</summary>
    private static SchedulerState ConfigReplaced(SchedulerState state, Event.ConfigReplaced e, DecideContext context, List<Effect> effects)
    {
        var next = state;
        foreach (var slot in state.Slots.Values.OrderBy(s => s.Model, StringComparer.Ordinal))
        {
            var ready = slot.Ready;
            var running = ready is null ? null : new ReadyInstance(ready.Config, e.LastUsed.GetValueOrDefault(slot.Model, context.Now));
            switch (ConfigReload.Decide(slot.Model, running, e.Old, e.Next))
            {
                case ReloadDecision.StopRemoved removed:
                    next = BeginStop(next, slot, "unload", removed.Reason, effects);
                    break;
                case ReloadDecision.RearmTtl rearm:
                    next = ArmTtl(next, slot, ready!, rearm.Config, rearm.Deadline, context, effects);
                    if (rearm.Announcement is { } announcement)
                    {
                        effects.Add(new Effect.Publish("config", announcement, ready!.Id));
                    }

                    break;
            }
        }

        return next;
    }

    /// <summary>ullmd stops: no lease is taken off the loop, timers are disarmed, ready instances stop at once (or are left running), and stops in progress are waited for.</summary>
    private static SchedulerState Stop(SchedulerState state, Event.Stop e, List<Effect> effects)
    {
        var next = state with { Stopping = true };
        foreach (var slot in state.Slots.Values.OrderBy(s => s.Model, StringComparer.Ordinal))
        {
            effects.Add(new Effect.CancelTtl(slot.Model));
            next = next.With(slot with { Ttl = null });
            if (slot.Ready is { } ready)
            {
                effects.Add(new Effect.Close(slot.Model, ready.Id));
                if (e.StopBackends)
                {
                    effects.Add(new Effect.CompleteDrain(ready.Id));
                    next = BeginStop(next, next.Slot(slot.Model), "unload", "ullmd is stopping", effects);
                    effects.Add(new Effect.AwaitStop(ready.Id));
                }
                else
                {
                    effects.Add(new Effect.LeaveRunning(ready.Id));
                }
            }
            else if (slot.Instance is { } other)
            {
                effects.Add(new Effect.AwaitStop(other.Id));
            }

            effects.AddRange(slot.Retiring.Select(id => new Effect.AwaitStop(id)));
        }

        return next;
    }

    /// <summary>The ready instance closes, drains and stops; its TTL is disarmed.</summary>
    private static SchedulerState BeginStop(SchedulerState state, SlotState slot, string kind, string reason, List<Effect> effects)
    {
        var instance = slot.Instance!;
        effects.Add(new Effect.CancelTtl(slot.Model));
        effects.Add(new Effect.Close(slot.Model, instance.Id));
        effects.Add(new Effect.Record(instance.Id, InstancePhase.Draining, reason));
        effects.Add(new Effect.DrainAndStop(slot.Model, instance.Id, kind, reason));
        return state.With(slot with { Instance = instance with { Phase = InstancePhase.Draining }, Ttl = null });
    }

    /// <summary>The slot's instance takes leases off the loop, if it may: ready, not switched out, and ullmd not stopping.</summary>
    private static void OpenIfServing(SchedulerState state, SlotState slot, List<Effect> effects)
    {
        if (slot.Ready is { } ready && slot.SwitchedOutFor is null && !state.Stopping)
        {
            effects.Add(new Effect.Open(slot.Model, ready.Id));
        }
    }

    /// <summary>
    /// The TTL timer on <paramref name="instance"/>, due at <paramref name="deadline"/> (a whole ttl from now when null:
    /// a new instance); none for a pinned model, a ttl of 0, or once ullmd stops.
    /// </summary>
    private static SchedulerState ArmTtl(
        SchedulerState state, SlotState slot, SlotInstance instance, ModelConfig config, DateTimeOffset? deadline, DecideContext context, List<Effect> effects)
    {
        if (config.Ttl <= TimeSpan.Zero || config.Pinned || state.Stopping)
        {
            effects.Add(new Effect.CancelTtl(slot.Model));
            return state.With(slot with { Ttl = null });
        }

        var arm = new TtlArm(state.NextId, deadline ?? context.Now + config.Ttl, config.Ttl);
        effects.Add(new Effect.ArmTtl(slot.Model, instance.Id, arm.Id, arm.Due));
        return state.With(slot with { Ttl = arm }) with { NextId = state.NextId + 1 };
    }
}

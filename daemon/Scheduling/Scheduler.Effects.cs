using UnifiedLlm.Daemon.Scheduling.Policy;
using UnifiedLlm.Daemon.Storage;
using Effect = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEffect;

namespace UnifiedLlm.Daemon.Scheduling;

internal sealed partial class Scheduler
{
    /// <summary>
    /// On the loop: <paramref name="happened"/>, which concerns <paramref name="model"/> only, decided by
    /// <see cref="SchedulerDecisions.Decide"/> over the state the model's slot holds now; the effects performed, then the
    /// decided state stored back in the slot.
    /// </summary>
    private void Handle(SchedulerEvent happened, string model)
    {
        var slot = slots.GetValueOrDefault(model);
        var before = (slot is null ? SchedulerState.Empty : SchedulerState.Empty.With(effects.StateOf(slot))) with
        {
            NextId = nextId,
            Stopping = Volatile.Read(ref disposed) == 1,
        };
        var context = new DecideContext(time.GetUtcNow(), options, new ConfigView(config.Current.Models, config.LoadedAt));
        var decision = SchedulerDecisions.Decide(before, happened, context);
        nextId = decision.Next.NextId;
        effects.Run(decision.Effects);
        if (slot is not null)
        {
            Store(slot, decision.Next.Slot(model));
        }
    }

    /// <summary>The part of a decided slot state the events decided so far may change, kept in the slot.</summary>
    private static void Store(ModelSlot slot, SlotState decided)
    {
        slot.Backoff = decided.Backoff;
        slot.Crashes = decided.Crashes;
        slot.HeldFailed = decided.Held?.Reason;
        slot.HeldSince = decided.Held?.Since ?? slot.HeldSince;
        if (slot.Loading is { } pending && decided.Loading?.Id == pending.Id)
        {
            pending.Waiters = decided.Loading.Waiters;
        }
    }

    /// <summary>
    /// Performs the effects of a decision on the runtime handles: the instances (by id), the slots' loads in flight, the
    /// lease fast path. It holds the answer each caller got until the handler that asked takes it.
    /// </summary>
    private sealed class EffectRunner(Scheduler scheduler)
    {
        private readonly Dictionary<string, ModelInstance> instances = new(StringComparer.Ordinal);
        private readonly Dictionary<long, Outcome<Served>> answers = [];

        /// <summary>
        /// An instance the scheduler made or adopted, known by its id from now on. Those stopped or failed with no lease
        /// left are forgotten as it comes: no decision names them again (a lease a load granted to a caller that left
        /// keeps its instance known until the caller gives it back).
        /// </summary>
        public void Track(ModelInstance instance)
        {
            foreach (var ended in instances.Values.Where(i => i.State is InstanceState.Stopped or InstanceState.Failed && i.Leases == 0).ToList())
            {
                instances.Remove(ended.Id);
            }

            instances[instance.Id] = instance;
        }

        /// <summary>The answer <paramref name="caller"/> got, taken; null when it got none (it waits for a load).</summary>
        public Outcome<Served>? TakeAnswer(long caller) => answers.Remove(caller, out var answer) ? answer : null;

        /// <summary><paramref name="slot"/> as the decisions see it, read from the handles.</summary>
        public SlotState StateOf(ModelSlot slot)
        {
            var name = slot.Config.Name;
            return new SlotState(name)
            {
                Instance = slot.Instance is { } current ? new SlotInstance(current.Id, PhaseOf(current.State), current.Model, current.Overrides) : null,
                Retiring = [.. instances.Values.Where(i => i.Model.Name == name && i != slot.Instance && i.State == InstanceState.Draining).Select(i => i.Id)],
                Loading = slot.Loading is { } pending ? new SlotLoad(pending.Id, pending.Overrides, pending.Waiters) : null,
                Backoff = slot.Backoff,
                Crashes = slot.Crashes,
                Held = slot.HeldFailed is { } held ? new CrashHold(held, slot.HeldSince) : null,
                SwitchedOutFor = slot.SwitchedOutFor,
            };
        }

        public void Run(IReadOnlyList<Effect> effects)
        {
            foreach (var effect in effects)
            {
                Perform(effect);
            }
        }

        private void Perform(Effect effect)
        {
            switch (effect)
            {
                case Effect.Refuse refuse:
                    answers[refuse.Caller] = refuse.Failure;
                    break;
                case Effect.Open open:
                    scheduler.Open(instances[open.InstanceId]);
                    break;
                case Effect.LeaseOnReady lease:
                    var ready = instances[lease.InstanceId];
                    ready.Grant(1);
                    ready.LastUsed = scheduler.time.GetUtcNow();
                    answers[lease.Caller] = new Served(ready, scheduler.LeaseOn(ready));
                    break;
                case Effect.BeginLoad begin:
                    var slot = scheduler.slots[begin.Model];
                    slot.Loading = new PendingLoad(begin.LoadId, begin.Overrides, p => Task.Run(() => scheduler.LoadAsync(slot, p), CancellationToken.None));
                    break;
                case Effect.ReturnLease returned:
                    var unused = instances[returned.InstanceId];
                    if (scheduler.Ended(unused))
                    {
                        scheduler.Handle(new SchedulerEvent.LeaseEnded(unused.Model.Name, unused.Id), unused.Model.Name);
                    }

                    break;
                case Effect.CompleteDrain drained:
                    instances[drained.InstanceId].Drained.TrySetResult();
                    break;
                default:
                    throw new InvalidOperationException($"{effect} comes from an event the scheduler does not decide through {nameof(SchedulerDecisions)} yet");
            }
        }

        private static InstancePhase PhaseOf(InstanceState state) => state switch
        {
            InstanceState.Ready => InstancePhase.Ready,
            InstanceState.Draining => InstancePhase.Draining,
            InstanceState.Stopped => InstancePhase.Stopped,
            InstanceState.Failed => InstancePhase.Failed,
            _ => InstancePhase.Loading,
        };
    }
}

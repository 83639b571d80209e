using UnifiedLlm.Daemon.Scheduling.Policy;
using UnifiedLlm.Daemon.Storage;
using Effect = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEffect;

namespace UnifiedLlm.Daemon.Scheduling;

internal sealed partial class Scheduler
{
    /// <summary>On the loop: <paramref name="happened"/> decided as of now.</summary>
    private void Handle(SchedulerEvent happened) => Handle(happened, time.GetUtcNow());

    /// <summary>
    /// On the loop: <paramref name="happened"/> decided by <see cref="SchedulerDecisions.Decide"/> over the state as of
    /// <paramref name="now"/>, read by the caller before what it observed for the event. The decided state is the state
    /// from then on; then its effects are performed (an event one of them feeds back is decided over that state).
    /// </summary>
    private void Handle(SchedulerEvent happened, DateTimeOffset now)
    {
        // ullmd stops from the moment DisposeAsync begins, before its Stop event reaches the loop.
        var current = Volatile.Read(ref disposed) == 1 ? state with { Stopping = true } : state;
        var context = new DecideContext(now, options, new ConfigView(config.Current.Models, config.LoadedAt));
        var decision = SchedulerDecisions.Decide(current, happened, context);
        state = decision.Next;
        effects.Run(decision.Effects, context.Config);
    }

    /// <summary>A switch as it goes on: after the load <see cref="AwaitLoad"/> in flight (null: none), or once <see cref="Stopped"/>.</summary>
    private sealed record SwitchAnswer(long? AwaitLoad, Task Stopped);

    /// <summary>
    /// Performs the effects of a decision on the runtime handles it keeps by the ids the state holds: the instances, the
    /// loads in flight, the TTL timers; and on the lease fast path. It holds the answer each caller got until the handler
    /// that asked takes it.
    /// </summary>
    private sealed class EffectRunner(Scheduler scheduler)
    {
        private readonly Dictionary<string, ModelInstance> instances = new(StringComparer.Ordinal);
        private readonly Dictionary<long, PendingLoad> loads = [];
        private readonly Dictionary<long, Outcome<Served>> answers = [];
        private readonly Dictionary<long, InstanceInfo> unloading = [];
        private readonly Dictionary<string, string> lost = new(StringComparer.Ordinal);
        private readonly Dictionary<long, SwitchAnswer> switches = [];
        private readonly List<Task> awaitedStops = [];
        private readonly Dictionary<string, ITimer> ttlTimers = new(StringComparer.Ordinal);

        /// <summary>The loads in flight.</summary>
        public IEnumerable<PendingLoad> Loads => loads.Values;

        /// <summary>
        /// An instance the scheduler made or adopted, known by its id from now on. Those stopped or failed with no lease
        /// left that the state no longer names are forgotten as it comes: no decision names them again (a lease a load
        /// granted to a caller that left keeps its instance known until the caller gives it back).
        /// </summary>
        public void Track(ModelInstance instance)
        {
            var named = scheduler.state.Slots.Values.Select(s => s.Instance?.Id).OfType<string>().ToHashSet(StringComparer.Ordinal);
            foreach (var ended in instances.Values.Where(i => i.State is InstanceState.Stopped or InstanceState.Failed && i.Leases == 0 && !named.Contains(i.Id)).ToList())
            {
                instances.Remove(ended.Id);
            }

            instances[instance.Id] = instance;
        }

        /// <summary>The runtime handle of the instance the state names <paramref name="id"/>.</summary>
        public ModelInstance Instance(string id) => instances[id];

        /// <summary>The runtime handle of the load in flight the state names <paramref name="id"/>.</summary>
        public PendingLoad Load(long id) => loads[id];

        /// <summary>The load no longer counts as in flight: no decision names it again.</summary>
        public void Forget(PendingLoad load) => loads.Remove(load.Id);

        /// <summary>The answer <paramref name="caller"/> got, taken; null when it got none (it waits for a load).</summary>
        public Outcome<Served>? TakeAnswer(long caller) => answers.Remove(caller, out var answer) ? answer : null;

        /// <summary>The instance an unload answered <paramref name="caller"/> with, as it was when its stop began, taken.</summary>
        public InstanceInfo TakeUnloading(long caller) => unloading.Remove(caller, out var stopping)
            ? stopping
            : throw new InvalidOperationException($"caller {caller} got no unload answer");

        /// <summary>How a switch answered <paramref name="caller"/> goes on, taken.</summary>
        public SwitchAnswer TakeSwitch(long caller) => switches.Remove(caller, out var answer)
            ? answer
            : throw new InvalidOperationException($"caller {caller} got no switch answer");

        /// <summary>The stops the last decision said to wait for, taken.</summary>
        public List<Task> TakeAwaitedStops()
        {
            List<Task> taken = [.. awaitedStops];
            awaitedStops.Clear();
            return taken;
        }

        /// <summary>What to publish about the lost backend of <paramref name="instanceId"/>, taken; null when its loss is no news.</summary>
        public string? TakeLost(string instanceId) => lost.Remove(instanceId, out var published) ? published : null;

        /// <summary><paramref name="instance"/> as the decisions see it, at <paramref name="phase"/>.</summary>
        public static SlotInstance AsSlotInstance(ModelInstance instance, InstancePhase phase) => new(instance.Id, phase, instance.Model, instance.Overrides);

        /// <summary>The <paramref name="effects"/> of a decision taken with the config <paramref name="decidedWith"/>, in order.</summary>
        public void Run(IReadOnlyList<Effect> effects, ConfigView decidedWith)
        {
            foreach (var effect in effects)
            {
                Perform(effect, decidedWith);
            }
        }

        private void Perform(Effect effect, ConfigView decidedWith)
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
                    var model = decidedWith.Models[begin.Model];
                    loads[begin.LoadId] = new PendingLoad(begin.LoadId, begin.Overrides, p => Task.Run(() => scheduler.LoadAsync(model, p), CancellationToken.None));
                    break;
                case Effect.RefuseWaiters refused:
                    if (loads.TryGetValue(refused.LoadId, out var failed))
                    {
                        failed.Refuse(refused.Failure);
                    }

                    break;
                case Effect.ReturnLease returned:
                    var unused = instances[returned.InstanceId];
                    if (scheduler.Ended(unused))
                    {
                        scheduler.Handle(new SchedulerEvent.LeaseEnded(unused.Model.Name, unused.Id));
                    }

                    break;
                case Effect.CompleteDrain drained:
                    instances[drained.InstanceId].Drained.TrySetResult();
                    break;
                case Effect.Close close:
                    scheduler.CloseInstance(instances[close.InstanceId]);
                    break;
                case Effect.ArmTtl arm:
                    ArmTtl(arm);
                    break;
                case Effect.CancelTtl cancel:
                    DisarmTtl(cancel.Model);
                    break;
                case Effect.Record record:
                    var moved = instances[record.InstanceId];
                    var learnt = record.Phase == InstancePhase.Ready ? Learnt(moved.Backend!) : null;
                    scheduler.Move(moved, StateOf(record.Phase), record.Reason, learnt);
                    break;
                case Effect.GrantWaiters grant:
                    var granted = instances[grant.InstanceId];
                    granted.Grant(grant.Callers.Count);
                    if (loads.TryGetValue(grant.LoadId, out var load))
                    {
                        load.Granted = granted;
                    }

                    break;
                case Effect.Publish publish:
                    scheduler.Publish(publish.Kind, publish.Message, publish.InstanceId is { } about ? instances[about] : null, publish.Model);
                    break;
                case Effect.AnswerUnload unload:
                    unloading[unload.Caller] = Describe(instances[unload.InstanceId]) with { Leases = unload.Leases };
                    break;
                case Effect.DrainAndStop drain:
                    scheduler.StartDrain(instances[drain.InstanceId], drain.Kind, drain.Reason);
                    break;
                case Effect.AwaitStop awaited:
                    awaitedStops.Add(instances[awaited.InstanceId].Stopped);
                    break;
                case Effect.AnswerSwitch answer:
                    switches[answer.Caller] = new SwitchAnswer(answer.AwaitLoad, answer.Stopping is { } stopping ? instances[stopping].Stopped : Task.CompletedTask);
                    break;
                case Effect.CleanUpLost gone:
                    // Out of service at once; the slow part (its last output, the stop) is the watcher's, which takes what to publish.
                    var instance = instances[gone.InstanceId];
                    instance.Lost.TrySetResult(gone.LostReason);
                    instance.Drained.TrySetResult();
                    lost[gone.InstanceId] = gone.Published;
                    break;
                case Effect.LeaveRunning left:
                    // Stays ready, in memory and in the store, for the next ullmd to adopt.
                    var running = instances[left.InstanceId];
                    running.Connections!.Dispose();
                    scheduler.LogLeftRunning(running.UnitName, running.Model.Name);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(effect), effect, "no runner for this effect");
            }
        }

        /// <summary>
        /// The model's TTL timer, replacing the one armed before, due at the effect's instant however late it is armed
        /// (<see cref="DeadlineTimer"/>). As it fires it closes the instance when no lease is held, so that a request
        /// from then on asks the loop, which decides.
        /// </summary>
        private void ArmTtl(Effect.ArmTtl arm)
        {
            DisarmTtl(arm.Model);
            var instance = instances[arm.InstanceId];
            ttlTimers[arm.Model] = DeadlineTimer.Start(scheduler.time, arm.Due, () =>
            {
                instance.TryCloseIdle();
                scheduler.loop.Post("the ttl", () => scheduler.TtlFired(arm.Model, instance, arm.ArmId));
            });
        }

        private void DisarmTtl(string model)
        {
            if (ttlTimers.Remove(model, out var timer))
            {
                timer.Dispose();
            }
        }

        private static InstanceState StateOf(InstancePhase phase) => phase switch
        {
            InstancePhase.Ready => InstanceState.Ready,
            InstancePhase.Draining => InstanceState.Draining,
            InstancePhase.Stopped => InstanceState.Stopped,
            InstancePhase.Failed => InstanceState.Failed,
            _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, "a load's own steps are not decided here"),
        };
    }
}

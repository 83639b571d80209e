using CsCheck;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;
using Effect = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEffect;
using Event = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEvent;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>
/// Random sequences of events on the pure state, each completion fed back as the effect runner would: the invariants of
/// the scheduler hold after every decision. No scheduler, fixture, database, file or process.
/// </summary>
public sealed class SchedulerDecisionsPropertyTests
{
    /// <summary>
    /// Never two ready instances of one model, never a second load in flight; every caller answered exactly once (or
    /// gone before its answer, and then never answered); no stop of a leased instance by its TTL, and no drain cut short
    /// but by its last lease or ullmd stopping; a switched-out model neither loads nor opens until its switch ends; and
    /// the state names as ready and as draining exactly the instances the recorded moves left so.
    /// </summary>
    [Fact]
    public void Random_event_sequences_keep_the_schedulers_invariants()
    {
        var step = Gen.Select(Gen.Int[0, 15], Gen.Int[0, 7], Gen.Bool);
        step.Array[1, 80].Sample(steps => new World().Play(steps), iter: 3_000);
    }

    /// <summary>The pure state, the runtime as the effects left it, and what the invariants need to remember.</summary>
    private sealed class World
    {
        private static readonly string[] Models = ["a", "b"];

        private static readonly UllmConfig Config = ConfigLoader.Parse("", "ullm.toml") with { Models = SchedulerDecisionsTests.Config.Models };

        private readonly Dictionary<long, (string Model, LoadOverrides Overrides)> loads = [];
        private readonly Dictionary<long, string> planned = [];
        private readonly Dictionary<string, string> ready = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> draining = new(StringComparer.Ordinal);
        private readonly Dictionary<long, int> answers = [];
        private readonly HashSet<long> gone = [];
        private readonly HashSet<string> switchedOut = new(StringComparer.Ordinal);
        private readonly Dictionary<long, (string From, string To, long Load)> awaitingLoad = [];
        private readonly Dictionary<long, string> switchesDone = [];
        private SchedulerState state = SchedulerState.Empty;
        private DateTimeOffset now = SchedulerDecisionsTests.T0;
        private long callers;
        private int instances;

        public void Play((int Kind, int Pick, bool Flag)[] steps)
        {
            foreach (var (kind, pick, flag) in steps)
            {
                if (NextEvent(kind, pick, flag) is { } happened)
                {
                    Apply(happened);
                }
            }

            Settle();
            foreach (var (caller, count) in answers)
            {
                Assert.True(gone.Contains(caller) ? count == 0 : count == 1, $"caller {caller} answered {count} time(s)");
            }
        }

        private SchedulerEvent? NextEvent(int kind, int pick, bool flag)
        {
            var model = Models[pick % 2];
            var slot = state.Slot(model);
            return kind switch
            {
                0 or 1 => new Event.RequestArrived(Caller(), model, flag ? (pick > 3 ? LoadOverrides.None with { Context = 8192 } : LoadOverrides.None) : null),
                2 => slot.Loading is { Waiters.Count: > 0 } loading ? Leave(model, loading, loading.Waiters[pick % loading.Waiters.Count]) : null,
                3 => Pick(loads.Keys, pick) is { } load ? PlannedOrReady(load) : null,
                4 => Pick(loads.Keys, pick) is { } load ? Failed(load, flag) : null,
                5 => new Event.BackendLost(model, slot.Instance?.Id ?? "stale", "backend exited"),
                6 => slot.Ready is { } on ? new Event.TtlDue(model, on.Id, flag ? slot.Ttl?.Id ?? 0 : 0, pick % 2 == 0, now.AddMinutes(-pick)) : null,
                7 => Pick(draining.Keys.Concat(ready.Keys), pick) is { } instance ? new Event.LeaseEnded(draining.GetValueOrDefault(instance) ?? ready[instance], instance) : null,
                8 => new Event.UnloadAsked(Caller(), model, flag, pick),
                9 => new Event.SwitchBegun(Caller(), model, Models[(pick + 1) % 2]),
                10 => SwitchGoesOn(pick),
                11 => Pick(draining.Keys, pick) is { } stopping ? new Event.StopEnded(draining[stopping], stopping, "unload", "r", flag ? null : "unit busy") : null,
                12 => slot.Instance is { } victim ? new Event.EvictionChosen(model, victim.Id, "evicted to make room") : null,
                13 => new Event.ConfigReplaced(Config, Config, ready.ToDictionary(r => r.Value, _ => now.AddMinutes(-pick))),
                14 => Advance(pick),
                _ => pick == 0 ? new Event.Stop(flag) : null,
            };
        }

        private long Caller()
        {
            answers[++callers] = 0;
            return callers;
        }

        private Event.WaiterLeft Leave(string model, SlotLoad loading, long caller)
        {
            gone.Add(caller);
            return new Event.WaiterLeft(caller, model, loading.Id, null);
        }

        /// <summary>As a load goes: its instance planned first, then ready.</summary>
        private SchedulerEvent PlannedOrReady(long load)
        {
            var (model, overrides) = loads[load];
            if (!planned.TryGetValue(load, out var instance))
            {
                planned[load] = $"i{++instances}";
                return new Event.InstancePlanned(model, new SlotInstance(planned[load], InstancePhase.Loading, SchedulerDecisionsTests.Config.Models[model], overrides));
            }

            return new Event.LoadReady(model, load, new SlotInstance(instance, InstancePhase.Loading, SchedulerDecisionsTests.Config.Models[model], overrides));
        }

        /// <summary>A load fails with its planned instance, or before it planned one (its download, when <paramref name="downloading"/>).</summary>
        private Event.LoadFailed Failed(long load, bool downloading)
        {
            var model = loads[load].Model;
            var instance = planned.GetValueOrDefault(load);
            var stage = instance is not null ? LoadFailureStage.Backend : downloading ? LoadFailureStage.Download : LoadFailureStage.BeforeBackend;
            return new Event.LoadFailed(model, load, instance, stage, new LeaseFailure(LeaseFailureKind.LoadFailed, model, "bad magic"));
        }

        private SchedulerEvent? SwitchGoesOn(int pick)
        {
            if (Pick(awaitingLoad.Keys.Where(c => !loads.ContainsKey(awaitingLoad[c].Load)), pick) is { } caller)
            {
                var (from, to, _) = awaitingLoad[caller];
                awaitingLoad.Remove(caller);
                return new Event.SwitchedLoadEnded(caller, from, to);
            }

            if (Pick(switchesDone.Keys, pick) is { } done)
            {
                var from = switchesDone[done];
                switchesDone.Remove(done);
                return new Event.SwitchEnded(from);
            }

            return null;
        }

        private SchedulerEvent? Advance(int minutes)
        {
            now = now.AddMinutes(minutes + 1);
            return null;
        }

        private static T? Pick<T>(IEnumerable<T> items, int pick)
            where T : struct
        {
            var all = items.ToList();
            return all.Count == 0 ? null : all[pick % all.Count];
        }

        private static string? Pick(IEnumerable<string> items, int pick)
        {
            var all = items.ToList();
            return all.Count == 0 ? null : all[pick % all.Count];
        }

        /// <summary>Every load in flight ends ready, every switch goes on to its end: then every caller has its answer.</summary>
        private void Settle()
        {
            while (loads.Count > 0 || awaitingLoad.Count > 0 || switchesDone.Count > 0)
            {
                var happened = loads.Count > 0 ? PlannedOrReady(loads.Keys.First()) : SwitchGoesOn(0)!;
                Apply(happened);
            }
        }

        private void Apply(SchedulerEvent happened)
        {
            var context = new DecideContext(now, SchedulerDecisionsTests.Options, SchedulerDecisionsTests.Config);
            var decision = SchedulerDecisions.Decide(state, happened, context);
            switch (happened)
            {
                case Event.LoadReady e:
                    loads.Remove(e.LoadId);
                    planned.Remove(e.LoadId);
                    break;
                case Event.LoadFailed e:
                    loads.Remove(e.LoadId);
                    planned.Remove(e.LoadId);
                    break;
                case Event.SwitchBegun e when !decision.Effects.Any(f => f is Effect.Refuse):
                    switchedOut.Add(e.From);
                    break;
                case Event.SwitchEnded e:
                    switchedOut.Remove(e.From);
                    break;
                case Event.StopEnded e:
                    draining.Remove(e.InstanceId);
                    break;
            }

            foreach (var effect in decision.Effects)
            {
                Check(happened, effect, decision.Next);
            }

            state = decision.Next;
            foreach (var model in Models)
            {
                var slot = state.Slot(model);
                Assert.Equal(ready.Where(r => r.Value == model).Select(r => r.Key).SingleOrDefault(), slot.Ready?.Id);
                string[] stopping = [.. slot.Retiring, .. slot.Instance is { Phase: InstancePhase.Draining } current ? [current.Id] : Array.Empty<string>()];
                Assert.Equal(draining.Where(d => d.Value == model).Select(d => d.Key).Order(StringComparer.Ordinal), stopping.Order(StringComparer.Ordinal));
            }
        }

        private void Check(SchedulerEvent happened, Effect effect, SchedulerState next)
        {
            switch (effect)
            {
                case Effect.BeginLoad begin:
                    Assert.DoesNotContain(begin.Model, switchedOut);
                    Assert.DoesNotContain(loads.Values, l => l.Model == begin.Model);
                    Assert.DoesNotContain(ready.Values, m => m == begin.Model);
                    loads[begin.LoadId] = (begin.Model, begin.Overrides);
                    break;
                case Effect.Record { Phase: InstancePhase.Ready } record:
                    var model = ((Event.LoadReady)happened).Model;
                    Assert.DoesNotContain(ready.Values, m => m == model);
                    ready[record.InstanceId] = model;
                    break;
                case Effect.Record record:
                    ready.Remove(record.InstanceId);
                    break;
                case Effect.DrainAndStop stop:
                    Assert.False(happened is Event.TtlDue { Leased: true }, "a ttl stopped a leased instance");
                    draining[stop.InstanceId] = stop.Model;
                    break;
                case Effect.CompleteDrain:
                    Assert.True(happened is Event.LeaseEnded or Event.Stop, $"a drain cut short by {happened}");
                    break;
                case Effect.Open open:
                    Assert.DoesNotContain(open.Model, switchedOut);
                    Assert.False(next.Stopping, "opened while ullmd stops");
                    Assert.Equal(open.Model, ready.GetValueOrDefault(open.InstanceId));
                    break;
                case Effect.LeaseOnReady lease:
                    Assert.True(ready.ContainsKey(lease.InstanceId), "leased on an instance that is not ready");
                    Answer(lease.Caller);
                    break;
                case Effect.Refuse refuse:
                    Answer(refuse.Caller);
                    break;
                case Effect.GrantWaiters grant:
                    Assert.True(ready.ContainsKey(grant.InstanceId), "waiters granted on an instance that is not ready");
                    grant.Callers.ToList().ForEach(Answer);
                    break;
                case Effect.RefuseWaiters refuse:
                    refuse.Callers.ToList().ForEach(Answer);
                    break;
                case Effect.AnswerUnload unload:
                    Answer(unload.Caller);
                    break;
                case Effect.AnswerSwitch { AwaitLoad: { } load } wait:
                    var switching = (Event.SwitchBegun)happened;
                    awaitingLoad[wait.Caller] = (switching.From, switching.To, load);
                    break;
                case Effect.AnswerSwitch done:
                    Answer(done.Caller);
                    switchesDone[done.Caller] = happened is Event.SwitchBegun begun ? begun.From : ((Event.SwitchedLoadEnded)happened).From;
                    break;
            }
        }

        private void Answer(long caller)
        {
            Assert.False(gone.Contains(caller), $"caller {caller} answered after it left");
            answers[caller]++;
            Assert.True(answers[caller] == 1, $"caller {caller} answered twice");
        }
    }
}

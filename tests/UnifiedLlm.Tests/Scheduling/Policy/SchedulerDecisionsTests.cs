using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;
using Effect = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEffect;
using Event = UnifiedLlm.Daemon.Scheduling.Policy.SchedulerEvent;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>The scheduler's decisions, event by event, from plain values: no scheduler, fixture, database, file or process.</summary>
public sealed class SchedulerDecisionsTests
{
    internal static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    internal static readonly SchedulerOptions Options = new() { QueueCapacity = 2, RetryAfter = TimeSpan.FromSeconds(5), CrashLimit = 2 };

    internal static readonly ModelConfig A = new("a", BackendKind.LlamaCpp, "/a.gguf", [], 4096, null, TimeSpan.FromMinutes(5), 50, false, []);

    internal static readonly ModelConfig B = A with { Name = "b", Source = "/b.gguf" };

    internal static readonly ConfigView Config = new(new Dictionary<string, ModelConfig>(StringComparer.Ordinal) { ["a"] = A, ["b"] = B }, T0.AddHours(-1));

    private static readonly DecideContext Context = new(T0, Options, Config);

    private static readonly SlotInstance ReadyA = new("i1", InstancePhase.Ready, A, LoadOverrides.None);

    private static readonly LoadOverrides Ctx8192 = LoadOverrides.None with { Context = 8192 };

    [Fact]
    public void A_request_for_an_unconfigured_model_is_refused_and_changes_nothing()
    {
        var decision = SchedulerDecisions.Decide(SchedulerState.Empty, new Event.RequestArrived(7, "nope", null), Context);

        Assert.Same(SchedulerState.Empty, decision.Next);
        Assert.Equal([new Effect.Refuse(7, RequestArrival.NotConfigured("nope"))], decision.Effects);
    }

    [Fact]
    public void The_first_request_begins_a_load_and_waits_for_it_and_the_next_joins_it()
    {
        var first = SchedulerDecisions.Decide(SchedulerState.Empty, new Event.RequestArrived(7, "a", null), Context);
        var second = SchedulerDecisions.Decide(first.Next, new Event.RequestArrived(8, "a", null), Context);

        Assert.Equal([new Effect.BeginLoad("a", 1, LoadOverrides.None)], first.Effects);
        Assert.Empty(second.Effects);
        Assert.Equal([7L, 8L], second.Next.Slot("a").Loading!.Waiters);
        Assert.Equal(2, second.Next.NextId);
    }

    [Fact]
    public void A_request_beyond_the_queue_is_refused_with_the_arrival_policys_words()
    {
        var state = Run(SchedulerState.Empty, new Event.RequestArrived(1, "a", null), new Event.RequestArrived(2, "a", null));

        var decision = SchedulerDecisions.Decide(state, new Event.RequestArrived(3, "a", null), Context);

        Assert.Equal(
            [new Effect.Refuse(3, new LeaseFailure(LeaseFailureKind.QueueFull, "a", "2 requests already wait for a to load", Options.RetryAfter))],
            decision.Effects);
    }

    [Fact]
    public void A_request_on_a_ready_instance_opens_it_and_is_leased_on_it()
    {
        var state = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA });

        var decision = SchedulerDecisions.Decide(state, new Event.RequestArrived(7, "a", null), Context);

        Assert.Equal([new Effect.Open("a", "i1"), new Effect.LeaseOnReady(7, "i1")], decision.Effects);
    }

    [Fact]
    public void An_explicit_load_clears_a_crash_hold_that_refuses_a_load_on_demand()
    {
        var held = SchedulerState.Empty.With(new SlotState("a") { Held = new CrashHold("a crashed 2 times", T0), Crashes = [T0, T0] });

        var onDemand = SchedulerDecisions.Decide(held, new Event.RequestArrived(7, "a", null), Context);
        var explicitLoad = SchedulerDecisions.Decide(held, new Event.RequestArrived(8, "a", Ctx8192), Context);

        Assert.Equal([new Effect.Refuse(7, new LeaseFailure(LeaseFailureKind.HeldAfterCrashes, "a", "a crashed 2 times"))], onDemand.Effects);
        Assert.Equal([new Effect.BeginLoad("a", 1, Ctx8192)], explicitLoad.Effects);
        Assert.Null(explicitLoad.Next.Slot("a").Held);
        Assert.Empty(explicitLoad.Next.Slot("a").Crashes);
    }

    [Fact]
    public void A_crash_hold_older_than_the_config_is_forgotten_when_the_model_is_asked_for()
    {
        var held = SchedulerState.Empty.With(new SlotState("a") { Held = new CrashHold("a crashed 2 times", Config.LoadedAt.AddMinutes(-1)) });

        var decision = SchedulerDecisions.Decide(held, new Event.RequestArrived(7, "a", null), Context);

        Assert.IsType<Effect.BeginLoad>(Assert.Single(decision.Effects));
        Assert.Null(decision.Next.Slot("a").Held);
    }

    [Fact]
    public void A_ready_load_grants_its_waiters_opens_the_instance_arms_its_ttl_and_ends_the_backoff()
    {
        var state = Run(SchedulerState.Empty, new Event.RequestArrived(1, "a", null), new Event.RequestArrived(2, "a", null));
        state = state.With(state.Slot("a") with { Backoff = LoadBackoff.None.Failed(T0, "bad magic", Options) });

        var decision = SchedulerDecisions.Decide(state, new Event.LoadReady("a", 1, ReadyA with { Phase = InstancePhase.Loading }), Context);

        Assert.Equal(
            [
                new Effect.Record("i1", InstancePhase.Ready, null), new Effect.GrantWaiters(1, "i1", [1, 2]), new Effect.Open("a", "i1"),
                new Effect.ArmTtl("a", "i1", 2, T0 + A.Ttl),
            ],
            decision.Effects,
            EffectComparer.Instance);
        var slot = decision.Next.Slot("a");
        Assert.Equal((ReadyA, (SlotLoad?)null, LoadBackoff.None, new TtlArm(2, T0 + A.Ttl, A.Ttl)), (slot.Instance, slot.Loading, slot.Backoff, slot.Ttl));
    }

    [Fact]
    public void An_adopted_backend_is_the_ready_instance_opened_with_a_whole_ttl_armed()
    {
        var decision = SchedulerDecisions.Decide(SchedulerState.Empty, new Event.Adopted("a", ReadyA), Context);

        Assert.Equal([new Effect.Open("a", "i1"), new Effect.ArmTtl("a", "i1", 1, T0 + A.Ttl)], decision.Effects, EffectComparer.Instance);
        var slot = decision.Next.Slot("a");
        Assert.Equal((ReadyA, new TtlArm(1, T0 + A.Ttl, A.Ttl)), (slot.Instance, slot.Ttl));
        Assert.Equal(2, decision.Next.NextId);
    }

    [Fact]
    public void A_pinned_model_gets_no_ttl_and_a_switched_out_one_is_not_opened()
    {
        var pinned = Context with { Config = Config with { Models = new Dictionary<string, ModelConfig>(StringComparer.Ordinal) { ["a"] = A with { Pinned = true } } } };
        var state = Run(SchedulerState.Empty, new Event.RequestArrived(1, "a", null));
        state = state.With(state.Slot("a") with { SwitchedOutFor = "b" });

        var decision = SchedulerDecisions.Decide(state, new Event.LoadReady("a", 1, ReadyA), pinned);

        Assert.Equal(
            [new Effect.Record("i1", InstancePhase.Ready, null), new Effect.GrantWaiters(1, "i1", [1]), new Effect.CancelTtl("a")],
            decision.Effects,
            EffectComparer.Instance);
    }

    [Fact]
    public void A_backend_that_fails_to_start_twice_backs_off_and_its_waiters_hear_why()
    {
        var failure = new LeaseFailure(LeaseFailureKind.LoadFailed, "a", "a failed to load: bad magic");
        var state = SchedulerState.Empty.With(new SlotState("a") { Backoff = LoadBackoff.None.Failed(T0.AddSeconds(-5), "bad magic", Options) });
        state = Run(state, new Event.RequestArrived(1, "a", null));

        var decision = SchedulerDecisions.Decide(state, new Event.LoadFailed("a", 1, "i9", LoadFailureStage.Backend, failure), Context);

        Assert.Equal(
            [
                new Effect.RefuseWaiters(1, [1], failure), new Effect.Record("i9", InstancePhase.Failed, failure.Reason),
                new Effect.Publish("failure", "a failed to load: bad magic; loads on demand back off until 12:00:01 UTC after 2 failures", "i9") { Model = "a" },
            ],
            decision.Effects,
            EffectComparer.Instance);
        Assert.Null(decision.Next.Slot("a").Loading);
        Assert.Equal(2, decision.Next.Slot("a").Backoff.Failures);
    }

    [Fact]
    public void A_planned_instance_is_the_current_one_and_one_it_replaces_while_draining_retires()
    {
        var state = Run(SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA }), new Event.UnloadAsked(1, "a", false, 0), new Event.RequestArrived(2, "a", null));

        var decision = SchedulerDecisions.Decide(state, new Event.InstancePlanned("a", ReadyA with { Id = "i2", Phase = InstancePhase.Loading }), Context);

        Assert.Empty(decision.Effects);
        var slot = decision.Next.Slot("a");
        Assert.Equal((ReadyA with { Id = "i2", Phase = InstancePhase.Loading }, "i1"), (slot.Instance, Assert.Single(slot.Retiring)));
        Assert.Equal([2L], slot.Loading!.Waiters);
    }

    [Fact]
    public void A_failed_load_leaves_its_planned_instance_failed_in_the_state()
    {
        var failure = new LeaseFailure(LeaseFailureKind.DoesNotFit, "a", "a does not fit: too big");
        var state = Run(SchedulerState.Empty, new Event.RequestArrived(1, "a", null), new Event.InstancePlanned("a", ReadyA with { Phase = InstancePhase.Loading }));

        var decision = SchedulerDecisions.Decide(state, new Event.LoadFailed("a", 1, "i1", LoadFailureStage.BeforeBackend, failure), Context);

        Assert.Equal(ReadyA with { Phase = InstancePhase.Failed }, decision.Next.Slot("a").Instance);
        Assert.Null(decision.Next.Slot("a").Ready);
    }

    [Fact]
    public void A_lost_backend_is_closed_failed_and_cleaned_up_and_the_crash_limit_holds_the_model()
    {
        var state = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA, Crashes = [T0.AddMinutes(-1)], Ttl = new TtlArm(4, T0, A.Ttl) });

        var decision = SchedulerDecisions.Decide(state, new Event.BackendLost("a", "i1", "backend exited: signal 9"), Context);

        const string Held = "a crashed 2 times within 10 min (last: backend exited: signal 9); held failed until loaded explicitly or the config is reloaded";
        Assert.Equal(
            [
                new Effect.Close("a", "i1"), new Effect.Record("i1", InstancePhase.Failed, "a: backend exited: signal 9"), new Effect.CancelTtl("a"),
                new Effect.CleanUpLost("i1", "a: backend exited: signal 9", Held),
            ],
            decision.Effects);
        var slot = decision.Next.Slot("a");
        Assert.Null(slot.Instance);
        Assert.Null(slot.Ttl);
        Assert.Equal(Held, slot.Held?.Reason);
    }

    [Fact]
    public void A_lost_backend_that_was_already_stopping_or_lost_after_ullmd_stopped_is_no_news()
    {
        var draining = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA with { Phase = InstancePhase.Draining } });
        var stopping = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA }) with { Stopping = true };

        Assert.Empty(SchedulerDecisions.Decide(draining, new Event.BackendLost("a", "i1", "backend exited"), Context).Effects);
        Assert.Empty(SchedulerDecisions.Decide(stopping, new Event.BackendLost("a", "i1", "backend exited"), Context).Effects);
    }

    [Theory]
    [InlineData(4, false, 400, "Close Record DrainAndStop")]
    [InlineData(4, true, 400, "ArmTtl")]
    [InlineData(4, false, 100, "Open ArmTtl")]
    [InlineData(3, false, 400, "Open")]
    public void A_ttl_timer_stops_an_instance_idle_for_the_whole_ttl_and_only_the_armed_one_counts(long armId, bool leased, int idleSeconds, string expected)
    {
        var state = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA, Ttl = new TtlArm(4, T0, A.Ttl) });

        var decision = SchedulerDecisions.Decide(state, new Event.TtlDue("a", "i1", armId, leased, T0.AddSeconds(-idleSeconds)), Context);

        Assert.Equal(expected, string.Join(' ', decision.Effects.Select(e => e.GetType().Name).Where(n => n != nameof(Effect.CancelTtl))));
    }

    [Fact]
    public void An_unload_closes_answers_with_the_leases_and_drains_and_a_forced_one_says_so()
    {
        var state = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA });

        var decision = SchedulerDecisions.Decide(state, new Event.UnloadAsked(7, "a", true, 3), Context);

        const string Reason = "unloaded on request with --force, ending 3 request(s) in flight";
        Assert.Equal(
            [
                new Effect.Close("a", "i1"), new Effect.AnswerUnload(7, "i1", 3, true), new Effect.CancelTtl("a"), new Effect.Close("a", "i1"),
                new Effect.Record("i1", InstancePhase.Draining, Reason), new Effect.DrainAndStop("a", "i1", "unload", Reason),
            ],
            decision.Effects);
        Assert.Equal(InstancePhase.Draining, decision.Next.Slot("a").Instance!.Phase);
    }

    [Fact]
    public void An_unload_of_nothing_ready_is_refused_as_not_loaded()
    {
        var decision = SchedulerDecisions.Decide(SchedulerState.Empty, new Event.UnloadAsked(7, "a", false, 0), Context);

        Assert.Equal([new Effect.Refuse(7, new LeaseFailure(LeaseFailureKind.NotLoaded, "a", "a is not loaded"))], decision.Effects);
    }

    [Fact]
    public void A_switch_waits_for_the_load_in_flight_refuses_a_second_switch_and_ends_open()
    {
        var state = Run(SchedulerState.Empty, new Event.RequestArrived(1, "a", null));

        var begun = SchedulerDecisions.Decide(state, new Event.SwitchBegun(7, "a", "b"), Context);
        var again = SchedulerDecisions.Decide(begun.Next, new Event.SwitchBegun(8, "a", "b"), Context);
        var ready = Run(begun.Next, new Event.LoadReady("a", 1, ReadyA));
        var stopping = SchedulerDecisions.Decide(ready, new Event.SwitchedLoadEnded(7, "a", "b"), Context);
        var ended = SchedulerDecisions.Decide(stopping.Next, new Event.SwitchEnded("a"), Context);

        Assert.Equal([new Effect.AnswerSwitch(7, 1, null)], begun.Effects);
        Assert.Equal([new Effect.Refuse(8, new LeaseFailure(LeaseFailureKind.Conflict, "a", "a is already being switched out for b"))], again.Effects);
        Assert.Equal(
            [
                new Effect.CancelTtl("a"), new Effect.Close("a", "i1"), new Effect.Record("i1", InstancePhase.Draining, "switched out for b"),
                new Effect.DrainAndStop("a", "i1", "unload", "switched out for b"), new Effect.AnswerSwitch(7, null, "i1"),
            ],
            stopping.Effects);
        Assert.Empty(ended.Effects);
        Assert.Null(ended.Next.Slot("a").SwitchedOutFor);
    }

    [Fact]
    public void A_reload_stops_a_removed_model_and_rearms_the_ttl_of_one_kept_from_its_last_use()
    {
        var empty = ConfigLoader.Parse("", "ullm.toml");
        var both = empty with { Models = Config.Models };
        var onlyB = empty with { Models = new Dictionary<string, ModelConfig>(StringComparer.Ordinal) { ["b"] = B with { Ttl = TimeSpan.FromMinutes(1) } } };
        var state = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA }).With(new SlotState("b") { Instance = ReadyA with { Id = "i2", Config = B } });
        var context = Context with { Config = Config with { Models = onlyB.Models } };

        var decision = SchedulerDecisions.Decide(state, new Event.ConfigReplaced(both, onlyB, new Dictionary<string, DateTimeOffset> { ["b"] = T0.AddSeconds(-20) }), context);

        Assert.Equal(
            [
                new Effect.CancelTtl("a"), new Effect.Close("a", "i1"), new Effect.Record("i1", InstancePhase.Draining, "removed from the config by a reload"),
                new Effect.DrainAndStop("a", "i1", "unload", "removed from the config by a reload"), new Effect.ArmTtl("b", "i2", 1, T0.AddSeconds(40)),
            ],
            decision.Effects);
    }

    [Fact]
    public void Stopping_ullmd_stops_what_is_ready_waits_for_what_is_stopping_and_opens_nothing_after()
    {
        var state = SchedulerState.Empty
            .With(new SlotState("a") { Instance = ReadyA })
            .With(new SlotState("b") { Instance = ReadyA with { Id = "i2", Config = B, Phase = InstancePhase.Draining } });

        var stopped = SchedulerDecisions.Decide(state, new Event.Stop(true), Context);
        var left = SchedulerDecisions.Decide(state, new Event.Stop(false), Context);
        var request = SchedulerDecisions.Decide(left.Next, new Event.RequestArrived(7, "a", null), Context);

        Assert.Contains(new Effect.DrainAndStop("a", "i1", "unload", "ullmd is stopping"), stopped.Effects);
        Assert.Contains(new Effect.AwaitStop("i1"), stopped.Effects);
        Assert.Contains(new Effect.AwaitStop("i2"), stopped.Effects);
        Assert.DoesNotContain(new Effect.AwaitStop("i1"), left.Effects);
        Assert.Contains(new Effect.LeaveRunning("i1"), left.Effects);
        Assert.DoesNotContain(left.Effects, e => e is Effect.DrainAndStop);
        Assert.Equal([new Effect.LeaseOnReady(7, "i1")], request.Effects);
    }

    [Fact]
    public void The_last_lease_on_a_draining_instance_drains_it_even_once_a_newer_one_is_current()
    {
        var state = Run(
            SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA }),
            new Event.UnloadAsked(1, "a", false, 1),
            new Event.RequestArrived(2, "a", null),
            new Event.LoadReady("a", 1, ReadyA with { Id = "i2" }));

        var decision = SchedulerDecisions.Decide(state, new Event.LeaseEnded("a", "i1"), Context);

        Assert.Equal([new Effect.CompleteDrain("i1")], decision.Effects);
        Assert.Empty(SchedulerDecisions.Decide(state, new Event.LeaseEnded("a", "i2"), Context).Effects);
    }

    [Fact]
    public void A_waiter_that_leaves_no_longer_counts_and_gives_back_a_lease_granted_to_it()
    {
        var state = Run(SchedulerState.Empty, new Event.RequestArrived(1, "a", null), new Event.RequestArrived(2, "a", null));

        var left = SchedulerDecisions.Decide(state, new Event.WaiterLeft(1, "a", 1, null), Context);
        var granted = SchedulerDecisions.Decide(state, new Event.WaiterLeft(1, "a", 9, "i1"), Context);

        Assert.Equal([2L], left.Next.Slot("a").Loading!.Waiters);
        Assert.Equal([new Effect.ReturnLease("i1")], granted.Effects);
    }

    [Fact]
    public void A_victim_still_ready_stops_one_stopping_is_waited_for_and_one_gone_is_skipped()
    {
        var ready = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA });
        var draining = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA with { Phase = InstancePhase.Draining } });

        Assert.Contains(new Effect.DrainAndStop("a", "i1", "evict", "evicted to make room for b"), SchedulerDecisions.Decide(ready, new Event.EvictionChosen("a", "i1", "evicted to make room for b"), Context).Effects);
        Assert.Equal([new Effect.AwaitStop("i1")], SchedulerDecisions.Decide(draining, new Event.EvictionChosen("a", "i1", "r"), Context).Effects);
        Assert.Empty(SchedulerDecisions.Decide(ready, new Event.EvictionChosen("a", "i0", "r"), Context).Effects);
    }

    [Fact]
    public void A_stop_that_ended_records_the_instance_stopped_or_failed_with_its_words()
    {
        var state = SchedulerState.Empty.With(new SlotState("a") { Instance = ReadyA with { Phase = InstancePhase.Draining } });

        var stopped = SchedulerDecisions.Decide(state, new Event.StopEnded("a", "i1", "evict", "evicted to make room for b", null), Context);
        var failed = SchedulerDecisions.Decide(state, new Event.StopEnded("a", "i1", "evict", "evicted to make room for b", "unit busy"), Context);

        Assert.Equal(
            [new Effect.Record("i1", InstancePhase.Stopped, "evicted to make room for b"), new Effect.Publish("evict", "a: stopped (evicted to make room for b)", "i1")],
            stopped.Effects);
        Assert.Equal(
            [new Effect.Record("i1", InstancePhase.Failed, "stop failed: unit busy"), new Effect.Publish("failure", "a: stopping failed: unit busy", "i1")],
            failed.Effects);
        Assert.Equal(InstancePhase.Stopped, stopped.Next.Slot("a").Instance!.Phase);
    }

    private static SchedulerState Run(SchedulerState state, params Event[] events) =>
        events.Aggregate(state, (s, e) => SchedulerDecisions.Decide(s, e, Context).Next);

    /// <summary>Effects holding lists compare by their items: the records compare lists by reference.</summary>
    internal sealed class EffectComparer : IEqualityComparer<Effect>
    {
        public static readonly EffectComparer Instance = new();

        public bool Equals(Effect? x, Effect? y) => (x, y) switch
        {
            (Effect.GrantWaiters a, Effect.GrantWaiters b) => a.LoadId == b.LoadId && a.InstanceId == b.InstanceId && a.Callers.SequenceEqual(b.Callers),
            (Effect.RefuseWaiters a, Effect.RefuseWaiters b) => a.LoadId == b.LoadId && a.Failure == b.Failure && a.Callers.SequenceEqual(b.Callers),
            _ => object.Equals(x, y),
        };

        public int GetHashCode(Effect obj) => obj.GetType().GetHashCode();
    }
}

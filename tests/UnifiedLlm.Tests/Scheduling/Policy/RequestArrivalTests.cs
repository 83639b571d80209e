using CsCheck;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>A request's arrival on the loop, decided from plain values: no scheduler, database, file or process.</summary>
public sealed class RequestArrivalTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly SchedulerOptions Options = new() { QueueCapacity = 2, RetryAfter = TimeSpan.FromSeconds(5) };

    private static readonly LoadOverrides Ctx8192 = LoadOverrides.None with { Context = 8192 };

    private static readonly LoadOverrides Parallel2 = LoadOverrides.None with { Parallel = 2 };

    private static readonly LoadHold CrashLoop = new("a", LoadHoldKind.CrashLoop, null, 3, "a crashed 3 times within 10 min (last: backend exited: signal 9); held failed until loaded explicitly or the config is reloaded");

    private static readonly LoadHold Backoff = new("a", LoadHoldKind.Backoff, T0.AddSeconds(30), 2, "bad magic");

    private static readonly ArrivingSlot Unloaded = new("a", null, null, null, null);

    public static TheoryData<string> Cases => [.. CaseNames];

    private static IEnumerable<string> CaseNames =>
    [
        "switched out, even when ready", "held after crashes, even when ready", "ready while backing off", "ready, explicit load with other overrides",
        "ready with overrides, explicit load with the same", "ready with overrides, load on demand", "backing off", "queue full",
        "loading with room", "loading with overrides, explicit load with others", "nothing loaded or loading", "nothing loaded, explicit load with overrides",
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_request_is_refused_leased_joins_the_load_or_begins_it(string name)
    {
        var (slot, explicitLoad, expected) = Case(name);

        Assert.Equal(expected, RequestArrival.Decide("a", slot, explicitLoad, Options, T0));
    }

    [Fact]
    public void A_model_that_is_not_configured_is_refused_by_name()
    {
        Assert.Equal(
            new Arrival.Refused(new LeaseFailure(LeaseFailureKind.UnknownModel, "nope", "model 'nope' is not configured")),
            RequestArrival.Decide("nope", null, null, Options, T0));
    }

    /// <summary>
    /// Whatever the slot: a switched-out or crash-held model is never leased nor loaded, a request never joins a full
    /// queue, a load begins only when none is ready or in flight, and a load on demand never conflicts.
    /// </summary>
    [Fact]
    public void No_request_passes_a_switch_or_a_crash_hold_joins_a_full_queue_or_begins_a_second_load()
    {
        var overrides = Gen.OneOf(LoadOverrides.None, Ctx8192, Parallel2);
        var hold = Gen.OneOf<LoadHold?>(null, CrashLoop, Backoff);
        var loading = Gen.Select(Gen.Int[0, 3], overrides).Select((w, o) => new LoadInFlight(w, o)).Null();
        var slot = Gen.Select(Gen.OneOf<string?>(null, "b"), hold, overrides.Null(), loading)
            .Select((switched, h, ready, inFlight) => new ArrivingSlot("a", switched, h, ready, inFlight));
        Gen.Select(slot, overrides.Null()).Sample((s, explicitLoad) =>
        {
            var decision = RequestArrival.Decide("a", s, explicitLoad, Options, T0);
            if (s.SwitchedOutFor is not null || s.Hold is { Kind: LoadHoldKind.CrashLoop })
            {
                Assert.IsType<Arrival.Refused>(decision);
            }

            Assert.False(decision is Arrival.JoinsLoad && s.Loading!.Waiters >= Options.QueueCapacity);
            Assert.False(decision is Arrival.BeginsLoad && (s.Ready is not null || s.Loading is not null));
            Assert.False(explicitLoad is null && decision is Arrival.Refused { Failure.Kind: LeaseFailureKind.Conflict });
        }, iter: 10_000);
    }

    private static (ArrivingSlot Slot, LoadOverrides? ExplicitLoad, Arrival Expected) Case(string name) => name switch
    {
        "switched out, even when ready" => (Unloaded with { SwitchedOutFor = "b", Ready = LoadOverrides.None }, null, Refused(
            LeaseFailureKind.SwitchedOut, "a is being switched out for b; it can load again once b is ready or failed", Options.RetryAfter)),
        "held after crashes, even when ready" => (Unloaded with { Hold = CrashLoop, Ready = LoadOverrides.None }, null, Refused(
            LeaseFailureKind.HeldAfterCrashes, CrashLoop.Reason)),
        "ready while backing off" => (Unloaded with { Hold = Backoff, Ready = LoadOverrides.None }, null, new Arrival.LeasedOnReady()),
        "ready, explicit load with other overrides" => (Unloaded with { Ready = LoadOverrides.None }, Ctx8192, Refused(
            LeaseFailureKind.Conflict, "a is already loaded with its configured settings; unload it first to load it with ctx 8192")),
        "ready with overrides, explicit load with the same" => (Unloaded with { Ready = Ctx8192 }, Ctx8192, new Arrival.LeasedOnReady()),
        "ready with overrides, load on demand" => (Unloaded with { Ready = Ctx8192 }, null, new Arrival.LeasedOnReady()),
        "backing off" => (Unloaded with { Hold = Backoff }, null, Refused(
            LeaseFailureKind.BackingOff, "a is backing off until 12:00:30 UTC after 2 failures: bad magic; `ullmctl load a` or a config reload retries at once", TimeSpan.FromSeconds(30))),
        "queue full" => (Unloaded with { Loading = new LoadInFlight(2, LoadOverrides.None) }, null, Refused(
            LeaseFailureKind.QueueFull, "2 requests already wait for a to load", Options.RetryAfter)),
        "loading with room" => (Unloaded with { Loading = new LoadInFlight(1, LoadOverrides.None) }, null, new Arrival.JoinsLoad()),
        "loading with overrides, explicit load with others" => (Unloaded with { Loading = new LoadInFlight(0, Ctx8192) }, Parallel2, Refused(
            LeaseFailureKind.Conflict, "a is already loading with ctx 8192; unload it first to load it with parallel 2")),
        "nothing loaded or loading" => (Unloaded, null, new Arrival.BeginsLoad(LoadOverrides.None)),
        "nothing loaded, explicit load with overrides" => (Unloaded, Ctx8192, new Arrival.BeginsLoad(Ctx8192)),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    private static Arrival.Refused Refused(LeaseFailureKind kind, string reason, TimeSpan? retryAfter = null) => new(new LeaseFailure(kind, "a", reason, retryAfter));
}

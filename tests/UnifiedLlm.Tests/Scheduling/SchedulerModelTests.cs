using System.Collections.Concurrent;
using CsCheck;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using static UnifiedLlm.Tests.Scheduling.SchedulerFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// Random sequences of requests, lease ends, unloads with and without --force, backend crashes, TTL expiries (the fake
/// clock advanced past the ttl), switches and config reloads against a whole scheduler (<see cref="SchedulerFixture"/>:
/// real planner and store, fake clock, fake driver at the process seam), three models that fit together. Requests,
/// unloads and switches are started and not awaited, as concurrent callers make them. After every step: no backend is
/// stopped while a lease on it is held, unless that lease was revoked by --force or its backend crashed; no model has
/// two backends running; the plans of the backends running and starting never add up to more than the host's memory.
/// At the end every lease held is given back, and every request, unload and switch gets its answer (a request's refusal
/// naming its model and why); then no lease is counted on any instance. The first property gives room for all three
/// models; the second for two, with the driver's starts held at a gate and let go by steps, so that requests evict and
/// loads in flight compete for the same memory. A failing sequence is shrunk and printed one step per line.
/// </summary>
public sealed class SchedulerModelTests
{
    private static readonly string[] Models = ["a", "b", "c"];

    /// <summary>
    /// Sequences per property: both took 33 s at 100 each on a shared 2-core machine at a load average of 10 to 20, so
    /// 180 each keeps the class near a minute there, and well under it on a quiet machine.
    /// </summary>
    private const int Sequences = 180;

    [Fact]
    public async Task Random_requests_releases_unloads_crashes_ttls_switches_and_reloads_keep_the_schedulers_invariants()
    {
        await CheckAsync(Steps, budgetInModels: 10, parallel: null, iter: Sequences);
    }

    /// <summary>
    /// Room for two of the three (equal) models, each with one slot (the fixture's budget is in one-slot models; at the
    /// default four slots one would not fit beside another): a request for the third evicts one, and loads held at the
    /// driver's gate are in flight together, so a load planned beside them must count their reservations. Requests and
    /// holds are drawn more often than in the first property so that these cases come up: of 80 sequences, 30 and 32
    /// evicted and 11 and 14 had two starts at the driver at once in two runs, so <see cref="Sequences"/> miss either
    /// case with a chance far under one in ten million. The test prints both counts.
    /// </summary>
    [Fact]
    public async Task With_room_for_two_of_three_models_evictions_and_loads_in_flight_never_place_more_than_the_budget()
    {
        var gated = Gen.Frequency(
            (10, Steps),
            (6, Requests),
            (3, Gen.Const(new Step(StepKind.HoldLoads, 0, 0))),
            (2, Gen.Const(new Step(StepKind.OpenLoads, 0, 0))));
        var stats = await CheckAsync(gated, budgetInModels: 2.5, parallel: 1, iter: Sequences);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{stats.Sequences} sequences: {stats.Evicting} evicted to make room, {stats.Concurrent} had two or more loads at the driver at once");
        Assert.True(stats.Evicting > 0, "no sequence evicted: the budget does not constrain the models");
        Assert.True(stats.Concurrent > 0, "no sequence had two loads in flight at once");
    }

    private static Gen<Step> Requests => Gen.Int[0, 2].Select(m => new Step(StepKind.Request, m, 0));

    private static Gen<Step> Steps => Gen.Frequency(
            (6, Requests),
            (5, Gen.Int[0, 7].Select(i => new Step(StepKind.Release, i, 0))),
            (2, Gen.Int[0, 2].Select(m => new Step(StepKind.Unload, m, 0))),
            (1, Gen.Int[0, 2].Select(m => new Step(StepKind.ForceUnload, m, 0))),
            (1, Gen.Int[0, 2].Select(m => new Step(StepKind.Crash, m, 0))),
            (1, Gen.Const(new Step(StepKind.TtlExpiry, 0, 0))),
            (1, Gen.Select(Gen.Int[0, 2], Gen.Int[1, 2]).Select((m, d) => new Step(StepKind.Switch, m, (m + d) % 3))),
            (1, Gen.Int[30, 90].Select(t => new Step(StepKind.Reload, t, 0))));

    /// <summary>
    /// Runs <paramref name="iter"/> sequences of up to 20 <paramref name="step"/>s, each against a new scheduler whose host
    /// holds <paramref name="budgetInModels"/> one-slot models, its models set to <paramref name="parallel"/> slots when given.
    /// </summary>
    private static async Task<Stats> CheckAsync(Gen<Step> step, double budgetInModels, int? parallel, int iter)
    {
        var stats = new Stats();
        await step.List[1, 20].SampleAsync(
            async steps =>
            {
                await using var run = await Run.StartAsync(budgetInModels, parallel is { } slots ? $"parallel = {slots}\n" : "");
                foreach (var s in steps)
                {
                    await run.ApplyAsync(s);
                    run.Check(s);
                }

                await run.QuiesceAsync();
                stats.Add(run);

            },
            iter: iter,
            threads: 1,
            print: steps => "\n" + string.Join("\n", steps));
        return stats;
    }

    private enum StepKind
    {
        Request,
        Release,
        Unload,
        ForceUnload,
        Crash,
        TtlExpiry,
        Switch,
        Reload,
        HoldLoads,
        OpenLoads,
    }

    /// <summary>What the sequences run exercised; a shrinking run's sequences count too.</summary>
    private sealed class Stats
    {
        public int Sequences { get; private set; }

        public int Evicting { get; private set; }

        public int Concurrent { get; private set; }

        public void Add(Run run)
        {
            Sequences++;
            Evicting += run.Evicted ? 1 : 0;
            Concurrent += run.Concurrent ? 1 : 0;
        }
    }

    private sealed record Step(StepKind Kind, int A, int B)
    {
        public override string ToString() => Kind switch
        {
            StepKind.Switch => $"Switch {Models[A]} -> {Models[B]}",
            StepKind.Release => $"Release held lease #{A}",
            StepKind.Reload => $"Reload with ttl {A} s",
            StepKind.TtlExpiry => "Advance the clock past the ttl",
            StepKind.HoldLoads => "Hold the driver's starts at its gate",
            StepKind.OpenLoads => "Let the starts held at the gate go",
            _ => $"{Kind} {Models[A]}",
        };
    }

    private sealed class Run : IAsyncDisposable
    {
        private static readonly TimeSpan DrainTimeout = TimeSpan.FromHours(1);

        /// <summary>
        /// How long, by the wall clock, a drain may go on once every lease is given back, and the scheduler take to stop:
        /// far more than either takes (milliseconds), and little enough that a failing sequence is reported, and shrunk,
        /// instead of waiting for a drain timeout the fake clock never reaches.
        /// </summary>
        private static readonly TimeSpan DrainBound = TimeSpan.FromSeconds(10);

        private readonly SchedulerFixture fx;
        private readonly string modelExtra;
        private readonly List<ModelLease> held = [];
        private readonly List<Task> pending = [];
        private readonly List<Task<Outcome<ModelLease>>> requests = [];
        private readonly HashSet<Task<Outcome<ModelLease>>> collected = [];
        private readonly ConcurrentBag<string> crashed = [];
        private readonly ConcurrentBag<string> violations = [];
        private readonly CancellationTokenSource watching = new();
        private readonly Task evictionWatch;
        private int evictions;

        private Run(SchedulerFixture fx, string modelExtra)
        {
            this.fx = fx;
            this.modelExtra = modelExtra;
            evictionWatch = CountEvictionsAsync(watching.Token);
            fx.Driver.OnStop = backend =>
            {
                var unit = backend.Process.UnitName;
                lock (held)
                {
                    if (!crashed.Contains(unit) && held.Any(l => UnitOf(l) == unit && !l.Revoked.IsCancellationRequested))
                    {
                        violations.Add($"{unit} stopped while a lease on it was held, neither revoked nor crashed");
                    }
                }

                return Task.CompletedTask;
            };
        }

        /// <summary>
        /// A drain timeout (on the fake clock) longer than any sequence advances it (20 steps of 91 s): a drain that times
        /// out stops its backend under its leases by design (SchedulerTests covers it), which this test would take for a
        /// violation. So a drain that never ends is caught by the wall clock instead (<see cref="DrainBound"/>).
        /// </summary>
        public static async Task<Run> StartAsync(double budgetInModels, string modelExtra)
        {
            var run = new Run(
                await CreateAsync(Toml(60, modelExtra), new SchedulerOptions { DrainTimeout = DrainTimeout }, budgetInModels), modelExtra);
            while (run.fx.Events.SubscriberCount == 0)
            {
                await Task.Delay(1, TestContext.Current.CancellationToken);
            }

            return run;
        }

        /// <summary>True when the scheduler evicted an instance to make room for another.</summary>
        public bool Evicted => Volatile.Read(ref evictions) > 0;

        /// <summary>True when two or more starts were at the driver at once.</summary>
        public bool Concurrent => fx.Driver.PeakStarting >= 2;

        public async Task ApplyAsync(Step step)
        {
            var ct = TestContext.Current.CancellationToken;
            await CollectLeasesAsync();
            switch (step.Kind)
            {
                case StepKind.Request:
                    requests.Add(fx.Scheduler.AcquireAsync(Models[step.A], ct).AsTask());
                    break;
                case StepKind.Release:
                    ModelLease? lease = null;
                    lock (held)
                    {
                        if (held.Count > 0)
                        {
                            lease = held[step.A % held.Count];
                            held.Remove(lease);
                        }
                    }

                    if (lease is not null)
                    {
                        await lease.DisposeAsync();
                    }

                    break;
                case StepKind.Unload or StepKind.ForceUnload:
                    pending.Add(fx.Scheduler.UnloadAsync(Models[step.A], step.Kind == StepKind.ForceUnload, ct));
                    break;
                case StepKind.Crash:
                    if (fx.Scheduler.Instances().FirstOrDefault(i => i.Model == Models[step.A] && i.State == InstanceState.Ready) is { } ready
                        && fx.Driver.IsRunning(ready.UnitName))
                    {
                        crashed.Add(ready.UnitName);
                        fx.Driver.Crash(Models[step.A]);
                    }

                    break;
                case StepKind.TtlExpiry:
                    fx.Time.Advance(TimeSpan.FromSeconds(91));
                    break;
                case StepKind.Switch:
                    pending.Add(fx.Scheduler.SwitchAsync(Models[step.A], Models[step.B], ct));
                    break;
                case StepKind.Reload:
                    await fx.ReloadAsync(Toml(step.A, modelExtra), ct);
                    break;
                case StepKind.HoldLoads:
                    fx.Driver.Gate ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    break;
                case StepKind.OpenLoads:
                    OpenLoads();
                    break;
            }

            // Lets what the step set off run a little, as concurrent callers would.
            await Task.Delay(1, ct);
        }

        public void Check(Step after)
        {
            Assert.True(violations.IsEmpty, $"after '{after}': {string.Join("; ", violations)}");
            var stopped = fx.Driver.Stops.ToHashSet();
            foreach (var model in Models)
            {
                var running = fx.Driver.Starts.Where(s => s.Model.Name == model).Select(s => s.UnitName)
                    .Count(u => !stopped.Contains(u) && !crashed.Contains(u) && fx.Driver.IsRunning(u));
                Assert.True(running <= 1, $"after '{after}': {running} backends of {model} running");
            }

            var peak = fx.Driver.PeakHostBytes;
            Assert.True(peak <= fx.HostBudget, $"after '{after}': backends running and starting planned {peak} bytes of the host's {fx.HostBudget}");
        }

        /// <summary>Gives back every lease held and every one granted meanwhile until every call has its answer.</summary>
        public async Task QuiesceAsync()
        {
            var ct = TestContext.Current.CancellationToken;
            OpenLoads();
            for (var round = 0; round < 500; round++)
            {
                await GiveBackHeldAsync();
                if (requests.All(r => r.IsCompleted) && pending.All(p => p.IsCompleted))
                {
                    break;
                }

                await Task.Delay(10, ct);
            }

            Assert.True(requests.All(r => r.IsCompleted), $"{requests.Count(r => !r.IsCompleted)} request(s) left without an answer; {Draining()}");
            Assert.True(pending.All(p => p.IsCompleted), $"{pending.Count(p => !p.IsCompleted)} unload(s) or switch(es) left without an answer; {Draining()}");
            await GiveBackHeldAsync();
            await AssertDrainsEndAsync();

            Assert.True(violations.IsEmpty, string.Join("; ", violations));
            Assert.All(fx.Scheduler.Instances(), i => Assert.Equal(0, i.Leases));
            foreach (var request in requests)
            {
                if ((await request).Failure is { } failure)
                {
                    Assert.True(Models.Contains(failure.Model) && failure.Reason.Length > 0, $"a refusal that does not say what and why: {failure}");
                }
            }

            Assert.True(fx.Driver.PeakHostBytes <= fx.HostBudget, $"backends running and starting planned {fx.Driver.PeakHostBytes} bytes of the host's {fx.HostBudget}");
        }

        /// <summary>
        /// Also after a failed check, with leases still held: they are given back first, so that the drains end, and the
        /// scheduler's stop is bounded by <see cref="DrainBound"/>, after which the fake clock passes the drain timeout.
        /// </summary>
        public async ValueTask DisposeAsync()
        {
            await watching.CancelAsync();
            await evictionWatch;
            watching.Dispose();
            await GiveBackHeldAsync();
            var stopped = fx.DisposeAsync().AsTask();
            if (await Task.WhenAny(stopped, Task.Delay(DrainBound, CancellationToken.None)) != stopped)
            {
                fx.Time.Advance(DrainTimeout);
            }

            try
            {
                await stopped.WaitAsync(DrainBound, CancellationToken.None);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"the scheduler did not stop within {DrainBound.TotalSeconds} s, nor once the fake clock passed its drain timeout; {Draining()}");
            }
        }

        /// <summary>Fails, naming them, when instances still drain <see cref="DrainBound"/> after every lease was given back.</summary>
        private async Task AssertDrainsEndAsync()
        {
            var bound = Task.Delay(DrainBound, TestContext.Current.CancellationToken);
            while (fx.Scheduler.Instances().Any(i => i.State == InstanceState.Draining) && !bound.IsCompleted)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }

            Assert.False(
                fx.Scheduler.Instances().Any(i => i.State == InstanceState.Draining),
                $"a drain did not end within {DrainBound.TotalSeconds} s of every lease being given back (the fake clock's drain timeout, {DrainTimeout.TotalHours} h, never comes): {Draining()}");
        }

        private string Draining()
        {
            var draining = fx.Scheduler.Instances().Where(i => i.State == InstanceState.Draining).Select(i => $"{i.Model} ({i.UnitName}, {i.Leases} lease(s))").ToList();
            return draining.Count == 0 ? "nothing draining" : "draining: " + string.Join(", ", draining);
        }

        /// <summary>Gives back every lease held and every one granted to a request answered by now.</summary>
        private async Task GiveBackHeldAsync()
        {
            await CollectLeasesAsync();
            List<ModelLease> giving;
            lock (held)
            {
                giving = [.. held];
                held.Clear();
            }

            foreach (var lease in giving)
            {
                await lease.DisposeAsync();
            }
        }

        private void OpenLoads()
        {
            var gate = fx.Driver.Gate;
            fx.Driver.Gate = null;
            gate?.TrySetResult();
        }

        private async Task CountEvictionsAsync(CancellationToken cancellationToken)
        {
            try
            {
                await foreach (var _ in fx.Events.SubscribeAsync(["evict"], cancellationToken))
                {
                    Interlocked.Increment(ref evictions);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The run is over.
            }
        }

        private static string UnitOf(ModelLease lease) => lease.BaseAddress.AbsolutePath.Trim('/');

        private static string Toml(int ttlSeconds, string modelExtra) => string.Concat(Models.Select(m => Model(m, ttlSeconds) + modelExtra));

        /// <summary>Requests answered with a lease: the lease is held from now on.</summary>
        private async Task CollectLeasesAsync()
        {
            foreach (var answered in requests.Where(r => r.IsCompleted && collected.Add(r)).ToList())
            {
                if ((await answered).Value is { } lease)
                {
                    lock (held)
                    {
                        held.Add(lease);
                    }
                }
            }
        }
    }
}

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
/// two backends running. At the end every lease held is given back, and every request, unload and switch gets its
/// answer; then no lease is counted on any instance. A failing sequence is shrunk and printed one step per line. Budgets
/// and evictions are LoadAdmissionModelTests' part.
/// </summary>
public sealed class SchedulerModelTests
{
    private static readonly string[] Models = ["a", "b", "c"];

    [Fact]
    public async Task Random_requests_releases_unloads_crashes_ttls_switches_and_reloads_keep_the_schedulers_invariants()
    {
        var step = Gen.Frequency(
            (6, Gen.Int[0, 2].Select(m => new Step(StepKind.Request, m, 0))),
            (5, Gen.Int[0, 7].Select(i => new Step(StepKind.Release, i, 0))),
            (2, Gen.Int[0, 2].Select(m => new Step(StepKind.Unload, m, 0))),
            (1, Gen.Int[0, 2].Select(m => new Step(StepKind.ForceUnload, m, 0))),
            (1, Gen.Int[0, 2].Select(m => new Step(StepKind.Crash, m, 0))),
            (1, Gen.Const(new Step(StepKind.TtlExpiry, 0, 0))),
            (1, Gen.Select(Gen.Int[0, 2], Gen.Int[1, 2]).Select((m, d) => new Step(StepKind.Switch, m, (m + d) % 3))),
            (1, Gen.Int[30, 90].Select(t => new Step(StepKind.Reload, t, 0))));
        await step.List[1, 20].SampleAsync(
            async steps =>
            {
                await using var run = await Run.StartAsync();
                foreach (var s in steps)
                {
                    await run.ApplyAsync(s);
                    run.Check(s);
                }

                await run.QuiesceAsync();
            },
            iter: 100,
            threads: 1,
            print: steps => "\n" + string.Join("\n", steps));
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
    }

    private sealed record Step(StepKind Kind, int A, int B)
    {
        public override string ToString() => Kind switch
        {
            StepKind.Switch => $"Switch {Models[A]} -> {Models[B]}",
            StepKind.Release => $"Release held lease #{A}",
            StepKind.Reload => $"Reload with ttl {A} s",
            StepKind.TtlExpiry => "Advance the clock past the ttl",
            _ => $"{Kind} {Models[A]}",
        };
    }

    private sealed class Run : IAsyncDisposable
    {
        private readonly SchedulerFixture fx;
        private readonly List<ModelLease> held = [];
        private readonly List<Task> pending = [];
        private readonly List<Task<Outcome<ModelLease>>> requests = [];
        private readonly HashSet<Task<Outcome<ModelLease>>> collected = [];
        private readonly ConcurrentBag<string> crashed = [];
        private readonly ConcurrentBag<string> violations = [];

        private Run(SchedulerFixture fx)
        {
            this.fx = fx;
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
        /// A drain timeout longer than any sequence advances the clock (20 steps of 91 s): a drain that times out stops its
        /// backend under its leases by design (SchedulerTests covers it), which this test would take for a violation.
        /// </summary>
        public static async Task<Run> StartAsync() => new(await CreateAsync(Toml(60), new SchedulerOptions { DrainTimeout = TimeSpan.FromHours(1) }));

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
                    await fx.ReloadAsync(Toml(step.A), ct);
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
        }

        /// <summary>Gives back every lease held and every one granted meanwhile until every call has its answer.</summary>
        public async Task QuiesceAsync()
        {
            var ct = TestContext.Current.CancellationToken;
            for (var round = 0; round < 500; round++)
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

                if (requests.All(r => r.IsCompleted) && pending.All(p => p.IsCompleted))
                {
                    break;
                }

                await Task.Delay(10, ct);
            }

            Assert.True(requests.All(r => r.IsCompleted), $"{requests.Count(r => !r.IsCompleted)} request(s) left without an answer");
            Assert.True(pending.All(p => p.IsCompleted), $"{pending.Count(p => !p.IsCompleted)} unload(s) or switch(es) left without an answer");
            await CollectLeasesAsync();
            foreach (var lease in held)
            {
                await lease.DisposeAsync();
            }

            Assert.True(violations.IsEmpty, string.Join("; ", violations));
            Assert.All(fx.Scheduler.Instances(), i => Assert.Equal(0, i.Leases));
        }

        public ValueTask DisposeAsync() => fx.DisposeAsync();

        private static string UnitOf(ModelLease lease) => lease.BaseAddress.AbsolutePath.Trim('/');

        private static string Toml(int ttlSeconds) => string.Concat(Models.Select(m => Model(m, ttlSeconds)));

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

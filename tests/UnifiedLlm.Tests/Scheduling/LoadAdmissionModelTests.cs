using CsCheck;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// Random sequences of load requests, allocation progress, finished and failed loads and unloads for four models of
/// different sizes on two 24 GiB GPUs, run through <see cref="LoadTurn"/> and the real llama.cpp planner
/// the way the scheduler runs them (a load that begins alone first evicts what its plan names). The GPU reading shows
/// loaded models in full and loads in flight as far as they have allocated, under their unit's name, as NVML does.
/// After every step: each GPU and the host hold no more than their capacity in loaded and reserved plans, a model is
/// waiting, loading or loaded at most once, a load running alone runs with no other; and once the loads in flight
/// finish, every waiting load has begun. A failing sequence is shrunk and printed one step per line.
/// </summary>
public sealed class LoadAdmissionModelTests
{
    private const ulong GpuTotal = 24 * GiB;
    private const ulong HostTotal = 48 * GiB;

    private static readonly string[] Models = ["m0", "m1", "m2", "m3"];

    private static readonly int[] Gpus = [0, 1];

    /// <summary>Ten layers of 1, 3, 5 and 8 GiB halves: from a model that fits anywhere to one that needs most of both GPUs.</summary>
    private static readonly LoadRequest[] Requests =
        [.. new ulong[] { 1, 3, 5, 8 }.Select(halves => new LoadRequest(
            Ten with { LayerBytes = [.. Enumerable.Repeat(halves * 512 * MiB, 10)], TensorBytes = halves * 5 * GiB + GiB }, 4096, 1024, null, [], GgmlType.F16, AllowTensorSplit: true))];

    [Fact]
    public void Loads_begun_beside_or_alone_never_count_the_same_free_memory_and_every_waiting_load_begins()
    {
        var step = Gen.Frequency(
            (5, Gen.Int[0, 3].Select(m => new Step(StepKind.Request, m))),
            (3, Gen.Int[0, 3].Select(m => new Step(StepKind.Allocate, m))),
            (3, Gen.Int[0, 3].Select(m => new Step(StepKind.Ready, m))),
            (1, Gen.Int[0, 3].Select(m => new Step(StepKind.Fail, m))),
            (2, Gen.Int[0, 3].Select(m => new Step(StepKind.Unload, m))));
        step.List[1, 40].Sample(
            steps =>
            {
                var machine = new Machine();
                foreach (var s in steps)
                {
                    machine.Apply(s);
                    machine.Pump();
                    machine.Check(s);
                }

                machine.FinishEverything();
            },
            iter: 400,
            print: steps => "\n" + string.Join("\n", steps));
    }

    private enum StepKind
    {
        Request,
        Allocate,
        Ready,
        Fail,
        Unload,
    }

    private sealed record Step(StepKind Kind, int Model)
    {
        public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Models[Model]}";
    }

    /// <summary>The scheduler's part around <see cref="LoadAdmission"/>, reduced to memory: what is loaded, and what each load in flight has allocated so far.</summary>
    private sealed class Machine
    {
        private readonly LoadAdmission admission = new();
        private readonly Dictionary<string, LoadPlan> loaded = [];
        private readonly Dictionary<string, (LoadPlan Plan, int Allocated)> loading = [];

        public void Apply(Step step)
        {
            var name = Models[step.Model];
            switch (step.Kind)
            {
                case StepKind.Request when !loaded.ContainsKey(name) && !loading.ContainsKey(name) && !admission.Waiting.Contains(name):
                    admission.Enqueue(name);
                    break;
                case StepKind.Allocate when loading.TryGetValue(name, out var load) && load.Allocated < 2:
                    loading[name] = load with { Allocated = load.Allocated + 1 };
                    break;
                case StepKind.Ready when loading.Remove(name, out var ready):
                    loaded[name] = ready.Plan;
                    admission.End(name);
                    break;
                case StepKind.Fail when loading.Remove(name):
                    admission.End(name);
                    break;
                case StepKind.Unload:
                    loaded.Remove(name);
                    break;
            }
        }

        /// <summary>Lets the load whose turn it is begin, and the next, until one has to wait.</summary>
        public void Pump()
        {
            while (admission.Waiting.Count > 0)
            {
                var name = admission.Waiting[0];
                var request = Requests[Array.IndexOf(Models, name)];
                var turn = admission.Turn(name, rulesStopNothing: true, version: 0);
                var step = LoadTurn.Decide(turn, null);
                if (step is TurnStep.PlanBeside)
                {
                    step = LoadTurn.Decide(turn, new BesidePlan(0, Planner.Plan(LoadAdmission.Beside(Reading(), admission.Reservations), request)));
                }

                if (step is TurnStep.Wait)
                {
                    return;
                }

                if (step is TurnStep.BeginBeside { Plan: var beside })
                {
                    admission.Begin(new AdmittedLoad(name, null, "llamacpp", LoadReservation.Of(Unit(name), beside)));
                    loading[name] = (beside, 0);
                    continue;
                }

                if (Planner.Plan(Reading(), request) is not LoadPlan alone)
                {
                    // Refused even with every other model evicted: the load fails and gives up its turn.
                    admission.End(name);
                    continue;
                }

                foreach (var victim in alone.Evictions)
                {
                    loaded.Remove(victim.Name);
                }

                admission.Begin(new AdmittedLoad(name, null, "llamacpp", null));
                loading[name] = (alone, 0);
            }
        }

        public void Check(Step after)
        {
            var plans = loaded.Values.Concat(loading.Values.Select(l => l.Plan)).ToList();
            foreach (var gpu in Gpus)
            {
                var held = plans.Aggregate(0UL, (sum, p) => sum + EngineRequests.GpuBytes(p, null).GetValueOrDefault(gpu));
                Assert.True(held <= GpuTotal - Reserve, $"after '{after}': GPU {gpu} holds {held / MiB} MiB of plans, over its {(GpuTotal - Reserve) / MiB} MiB ({Describe()})");
            }

            var host = plans.Aggregate(0UL, (sum, p) => sum + p.Estimate.HostTotalBytes);
            Assert.True(host <= HostTotal, $"after '{after}': the host holds {host / MiB} MiB of plans, over its {HostTotal / MiB} MiB ({Describe()})");
            foreach (var name in Models)
            {
                var places = (loaded.ContainsKey(name) ? 1 : 0) + (loading.ContainsKey(name) ? 1 : 0) + admission.Waiting.Count(w => w == name);
                Assert.True(places <= 1, $"after '{after}': {name} is in {places} places ({Describe()})");
            }

            Assert.Equal(loading.Keys.Order(), admission.InFlight.Select(l => l.Model).Order());
            Assert.True(!admission.AloneInFlight || admission.InFlight.Count == 1, $"after '{after}': a load runs alone beside others ({Describe()})");
        }

        /// <summary>The loads in flight become ready one by one; every waiting load must get its turn.</summary>
        public void FinishEverything()
        {
            for (var round = 0; round < 2 * Models.Length && (loading.Count > 0 || admission.Waiting.Count > 0); round++)
            {
                foreach (var name in loading.Keys.ToList())
                {
                    Apply(new Step(StepKind.Ready, Array.IndexOf(Models, name)));
                }

                Pump();
                Check(new Step(StepKind.Ready, 0));
            }

            Assert.True(admission.Waiting.Count == 0 && loading.Count == 0, $"loads left without a turn: {Describe()}");
        }

        private static string Unit(string name) => $"ullm-{name}-x.service";

        /// <summary>What NVML would read now: loaded plans in full, loads in flight by halves of their plan, each under its unit.</summary>
        private PlacementContext Reading()
        {
            var evictable = loaded.Select(l => new LoadedInstance(l.Key, EngineRequests.GpuBytes(l.Value, null), l.Value.Estimate.HostTotalBytes, 0, false, false, Now)).ToList();
            var devices = Gpus.Select(gpu =>
            {
                var processes = loaded.Select(l => new GpuProcess(1, EngineRequests.GpuBytes(l.Value, null).GetValueOrDefault(gpu), Unit(l.Key)))
                    .Concat(loading.Select(l => new GpuProcess(2, EngineRequests.GpuBytes(l.Value.Plan, null).GetValueOrDefault(gpu) / 2 * (ulong)l.Value.Allocated, Unit(l.Key))))
                    .Where(p => p.UsedBytes > 0).ToList();
                var used = processes.Aggregate(0UL, (sum, p) => sum + p.UsedBytes);
                return GpuWithFree(gpu, GpuTotal - Math.Min(GpuTotal, used), GpuTotal) with { Processes = processes };
            }).ToArray();
            var hostUsed = loaded.Values.Aggregate(0UL, (sum, p) => sum + p.Estimate.HostTotalBytes)
                + loading.Values.Aggregate(0UL, (sum, l) => sum + (l.Plan.Estimate.HostTotalBytes / 2 * (ulong)l.Allocated));
            return Context(HostTotal - Math.Min(HostTotal, hostUsed), evictable, devices);
        }

        private string Describe() =>
            $"loaded [{string.Join(", ", loaded.Keys.Order())}], loading [{string.Join(", ", loading.Select(l => $"{l.Key}{(admission.InFlight.Single(f => f.Model == l.Key).Alone ? " alone" : "")}"))}], waiting [{string.Join(", ", admission.Waiting)}]";
    }
}

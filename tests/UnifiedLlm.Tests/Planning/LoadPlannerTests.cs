using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Scheduling.Planning;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

public sealed class LoadPlannerTests
{
    [Fact]
    public void Fits_on_one_gpu_with_everything_offloaded()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 24 * GiB)), Request()));

        Assert.Equal([0], plan.GpuIndices);
        Assert.Null(plan.TensorSplit);
        Assert.Equal((11, 4096UL), (plan.GpuLayers, plan.ContextLength));
        Assert.Empty(plan.Evictions);
        Assert.Equal(FullOffloadNeed(4096), plan.Estimate.GpuTotalBytes);
        Assert.StartsWith("GPU0, -ngl 11, --parallel 1 × n_ctx 4096, evicting nothing", plan.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Boundary_is_exact_including_the_reserve()
    {
        var need = FullOffloadNeed(4096);

        var fits = Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, need + Reserve)), Request(minContextLength: 4096));
        var short1 = Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, need + Reserve - 1)), Request(minContextLength: 4096));

        Assert.Equal(11, AssertPlan(fits).GpuLayers);
        // one byte short: all layers no longer fit at 4096, so the planner falls back to partial offload
        Assert.Equal(10, AssertPlan(short1).GpuLayers);
    }

    [Fact]
    public void The_gpu_with_most_free_memory_wins_without_a_preference()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 16 * GiB), GpuWithFree(1, 20 * GiB)), Request()));

        Assert.Equal([1], plan.GpuIndices);
    }

    [Fact]
    public void A_preference_is_honoured_when_it_fits()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 20 * GiB), GpuWithFree(1, 16 * GiB)), Request(preferred: 1)));

        Assert.Equal([1], plan.GpuIndices);
    }

    [Fact]
    public void A_preferred_gpu_that_is_too_small_gives_way()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 20 * GiB), GpuWithFree(1, 4 * GiB)), Request(preferred: 1)));

        Assert.Equal([0], plan.GpuIndices);
        Assert.Equal(11, plan.GpuLayers);
    }

    [Fact]
    public void Disallowed_gpus_are_never_used()
    {
        var context = Context(64 * GiB, [], GpuWithFree(0, 24 * GiB), GpuWithFree(1, 16 * GiB)) with { AllowedGpus = new HashSet<int> { 1 } };

        Assert.Equal([1], AssertPlan(Planner.Plan(context, Request())).GpuIndices);
    }

    [Fact]
    public void Context_shrinks_to_the_largest_step_that_fits()
    {
        // room for everything at n_ctx 3072 but not at 3328 (the next 256 step)
        var free = FullOffloadNeed(3072) + Reserve;
        Assert.True(FullOffloadNeed(3328) + Reserve > free);

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request(contextLength: 4096, minContextLength: 1024)));

        Assert.Equal((11, 3072UL), (plan.GpuLayers, plan.ContextLength));
    }

    [Fact]
    public void Partial_offload_keeps_the_most_layers_that_fit()
    {
        // 8 GiB after the reserve: llama.cpp's -ngl 7 offloads the output head (512 MiB) and the last 6 blocks: partial
        // compute graph + 457 MiB overhead + 512 MiB + 6 · (1 GiB + 16 MiB KV) fits, -ngl 8 (one block more) does not
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 8 * GiB + Reserve)), Request()));

        Assert.Equal((7, 4096UL), (plan.GpuLayers, plan.ContextLength));
        var gpu = Assert.Single(plan.Estimate.Gpus);
        Assert.Equal((4, 6, true), (gpu.FirstLayer, gpu.Layers, gpu.HasOutput));
        Assert.True(gpu.TotalBytes <= 8 * GiB);
        Assert.True(Estimator.Estimate(Ten, 4096, GgmlType.F16, 8).Gpus[0].TotalBytes > 8 * GiB);
        // host keeps token_embd and layers 0-3
        Assert.Equal((512 * MiB) + (4 * GiB), plan.Estimate.HostWeightBytes);
    }

    [Fact]
    public void A_fixed_layer_count_is_respected()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 24 * GiB)), Request(gpuLayers: 4)));

        Assert.Equal(4, plan.GpuLayers);
        // llama.cpp's -ngl 4: the output head and the last three blocks (7-9).
        Assert.Equal((7, 3, true), (plan.Estimate.Gpus[0].FirstLayer, plan.Estimate.Gpus[0].Layers, plan.Estimate.Gpus[0].HasOutput));
    }

    [Fact]
    public void Evicts_the_least_recently_used_idle_instance_first()
    {
        var older = Instance("older", 0, 10 * GiB, minutesAgo: 60);
        var newer = Instance("newer", 0, 10 * GiB, minutesAgo: 5);

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [newer, older], GpuWithFree(0, 4 * GiB)), Request(minContextLength: 4096, gpuLayers: 11)));

        Assert.Equal(["older"], plan.Evictions.Select(e => e.Name));
        Assert.Equal(11, plan.GpuLayers);
    }

    [Fact]
    public void Evicts_the_lowest_priority_before_the_least_recently_used()
    {
        var important = Instance("important", 0, 10 * GiB, priority: 5, minutesAgo: 60);
        var minor = Instance("minor", 0, 10 * GiB, priority: 1, minutesAgo: 5);

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [important, minor], GpuWithFree(0, 4 * GiB)), Request(minContextLength: 4096, gpuLayers: 11)));

        Assert.Equal(["minor"], plan.Evictions.Select(e => e.Name));
    }

    [Fact]
    public void Evicts_as_many_as_needed_in_order()
    {
        var a = Instance("a", 0, 4 * GiB, minutesAgo: 30);
        var b = Instance("b", 0, 4 * GiB, minutesAgo: 20);
        var c = Instance("c", 0, 4 * GiB, minutesAgo: 10);

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [c, b, a], GpuWithFree(0, 6 * GiB)), Request(minContextLength: 4096, gpuLayers: 11)));

        // 6 GiB free − 0.5 GiB reserve + 4 + 4 = 13.5 GiB ≥ ~11.2 GiB needed; one eviction (9.5 GiB) is not enough
        Assert.Equal(["a", "b"], plan.Evictions.Select(e => e.Name));
    }

    [Fact]
    public void Pinned_and_busy_instances_are_never_evicted()
    {
        var pinned = Instance("pinned", 0, 10 * GiB, pinned: true, minutesAgo: 90);
        var busy = Instance("busy", 0, 10 * GiB, busy: true, minutesAgo: 80);
        var idle = Instance("idle", 0, 10 * GiB, priority: 9, minutesAgo: 1);

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [pinned, busy, idle], GpuWithFree(0, 4 * GiB)), Request(minContextLength: 4096, gpuLayers: 11)));

        Assert.Equal(["idle"], plan.Evictions.Select(e => e.Name));
    }

    [Fact]
    public void Evicting_only_helps_on_the_gpu_the_instance_uses()
    {
        var onOther = Instance("elsewhere", 1, 20 * GiB, minutesAgo: 60);
        var context = Context(64 * GiB, [onOther], GpuWithFree(0, 4 * GiB), GpuWithFree(1, 2 * GiB));

        var plan = AssertPlan(Planner.Plan(context, Request(minContextLength: 4096, gpuLayers: 11, preferred: 0)));

        Assert.Equal([1], plan.GpuIndices);
        Assert.Equal(["elsewhere"], plan.Evictions.Select(e => e.Name));
    }

    [Fact]
    public void Shrinking_the_context_to_min_context_is_preferred_over_evicting()
    {
        var idle = Instance("idle", 0, 8 * GiB, minutesAgo: 60);
        var free = FullOffloadNeed(2048) + Reserve;

        var shrunk = AssertPlan(Planner.Plan(Context(64 * GiB, [idle], GpuWithFree(0, free)), Request()));
        var evicting = AssertPlan(Planner.Plan(Context(64 * GiB, [idle], GpuWithFree(0, free)), Request(minContextLength: 4096, gpuLayers: 11)));

        Assert.Equal((11, 2048UL), (shrunk.GpuLayers, shrunk.ContextLength));
        Assert.Empty(shrunk.Evictions);
        Assert.Equal(["context 4096 → 2048: the longest that fits with 1 slot(s), min_context 1024"], shrunk.Steps);
        Assert.Equal((11, 4096UL), (evicting.GpuLayers, evicting.ContextLength));
        Assert.Equal(["evicting idle: it does not fit otherwise"], evicting.Steps);
    }

    [Fact]
    public void Refuses_with_the_exact_reason()
    {
        var pinned = Instance("model B", 0, 16 * GiB, pinned: true);
        var busy = Instance("model C", 0, 2 * GiB, busy: true);
        var context = Context(2 * GiB, [pinned, busy], GpuWithFree(0, (6 * GiB) + Reserve));

        var refusal = Assert.IsType<PlanRefusal>(Planner.Plan(context, Request()));

        var need = FullOffloadNeed(1024);
        var partialHost = Estimator.Estimate(Ten, 1024, GgmlType.F16, 1).HostTotalBytes;
        var cpuHost = Estimator.EstimateCpuOnly(Ten, 1024, GgmlType.F16).HostTotalBytes;
        Assert.Equal(
            $"ten needs {Fmt(need)} (all 10 layers + output, 1 slot(s) × n_ctx 1024), 6.00 GiB free on GPU0 after its 512.0 MiB reserve and evicting nothing: "
            + $"model B is pinned, model C is busy; partial offload needs {Fmt(partialHost)} and CPU mode {Fmt(cpuHost)} of host RAM, 2.00 GiB available",
            refusal.Reason);
        // weights 10 · 1 GiB + 512 MiB output, KV 10 · 1024 · 4 KiB = 40 MiB, compute 4 · 512 · (1 + 4 · 1024 + 1024 · 9) = 26 MiB,
        // CUDA overhead 457 MiB: 11,822,696,448 bytes
        Assert.Equal(11_822_696_448UL, need);
        Assert.StartsWith("ten needs 11.01 GiB", refusal.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Splits_across_gpus_when_allowed()
    {
        var context = Context(64 * GiB, [], GpuWithFree(0, 7 * GiB), GpuWithFree(1, 7 * GiB));

        var split = AssertPlan(Planner.Plan(context, Request(split: true)));
        var single = AssertPlan(Planner.Plan(context, Request(split: false)));

        Assert.Equal([0, 1], split.GpuIndices);
        Assert.Equal(11, split.GpuLayers);
        Assert.NotNull(split.TensorSplit);
        Assert.Equal(1.0, split.TensorSplit.Sum(), 9);
        Assert.Equal(split.Estimate.Gpus.Select(g => (double)(g.Layers + (g.HasOutput ? 1 : 0)) / 11), split.TensorSplit);
        Assert.All(split.Estimate.Gpus, g => Assert.True(g.TotalBytes <= 6.5 * GiB, $"{g.TotalBytes}"));
        Assert.True(split.Estimate.Gpus[1].HasOutput);
        // without splitting, one 6.5 GiB GPU takes only part of the model
        Assert.Single(single.GpuIndices);
        Assert.InRange(single.GpuLayers, 1, 10);
    }

    [Fact]
    public void A_single_gpu_beats_a_split_when_both_fit()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 24 * GiB), GpuWithFree(1, 24 * GiB)), Request(split: true)));

        Assert.Single(plan.GpuIndices);
        Assert.Null(plan.TensorSplit);
    }

    [Fact]
    public void Cpu_mode_plans_zero_gpu_layers_against_host_ram()
    {
        var snapshot = GpuSnapshot.CpuMode(Now, "NVML not found");
        var need = Estimator.EstimateCpuOnly(Ten, 4096, GgmlType.F16).HostTotalBytes;

        var plan = AssertPlan(Planner.Plan(new PlacementContext(snapshot, need, [], Reserve), Request()));
        var refusal = Assert.IsType<PlanRefusal>(Planner.Plan(new PlacementContext(snapshot, 8 * GiB, [], Reserve), Request()));

        Assert.Empty(plan.GpuIndices);
        Assert.Equal((0, 4096UL), (plan.GpuLayers, plan.ContextLength));
        Assert.Equal(need, plan.Estimate.HostTotalBytes);
        Assert.Equal(
            $"ten needs {Fmt(Estimator.EstimateCpuOnly(Ten, 1024, GgmlType.F16).HostTotalBytes)} of host RAM (CPU mode: NVML not found, 1 slot(s) × n_ctx 1024), 8.00 GiB available after evicting nothing",
            refusal.Reason);
    }

    [Fact]
    public void Cpu_mode_evicts_idle_instances_for_host_ram()
    {
        var snapshot = GpuSnapshot.CpuMode(Now, "no GPU");
        var idle = new LoadedInstance("idle", new Dictionary<int, ulong>(), 8 * GiB, 0, false, false, Now.AddHours(-1));
        var pinned = new LoadedInstance("pinned", new Dictionary<int, ulong>(), 8 * GiB, 0, true, false, Now.AddHours(-2));

        var plan = AssertPlan(Planner.Plan(new PlacementContext(snapshot, 6 * GiB, [pinned, idle], Reserve), Request()));

        Assert.Equal(["idle"], plan.Evictions.Select(e => e.Name));
        Assert.Equal(0, plan.GpuLayers);
    }

    [Fact]
    public void Falls_back_to_cpu_when_no_gpu_can_take_a_layer()
    {
        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 1 * GiB)), Request()));

        Assert.Empty(plan.GpuIndices);
        Assert.Equal(0, plan.GpuLayers);
    }

    [Fact]
    public void Invalid_requests_are_rejected()
    {
        var context = Context(64 * GiB, [], GpuWithFree(0, 24 * GiB));

        Assert.Throws<ArgumentException>(() => Planner.Plan(context, Request(contextLength: 1024, minContextLength: 2048)));
        Assert.Throws<ArgumentException>(() => Planner.Plan(context, Request() with { Parallel = 2, MinParallel = 3 }));
        Assert.Equal(
            "ten: q6_k is not a llama.cpp KV cache type",
            Assert.IsType<PlanRefusal>(Planner.Plan(context, Request() with { CacheType = GgmlType.Q6_K })).Reason);
    }

    private static string Fmt(ulong bytes) => UnifiedLlm.Daemon.Models.Sizing.ByteFormat.Format(bytes);
}

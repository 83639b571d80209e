using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

/// <summary>
/// Request slots and KV cache types in the planner: every slot gets a KV cache of the context; when they do not fit,
/// fewer slots down to min_parallel, then a shorter context, each named in the plan; quantized caches shrink the KV
/// term by their bytes per element; a model pinned to GPUs is placed only there.
/// </summary>
public sealed class ParallelPlanningTests
{
    [Fact]
    public void Four_slots_hold_four_kv_caches_of_the_context()
    {
        var one = Estimator.Estimate(Ten, 4096, GgmlType.F16, 11);
        var four = Estimator.Estimate(Ten, 4096, GgmlType.F16, 11, slots: 4);

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 24 * GiB)), Request() with { Parallel = 4 }));

        Assert.Equal((4, 4096UL, 4 * 4096UL), (plan.Parallel, plan.ContextLength, plan.TotalContextLength));
        Assert.Empty(plan.Steps);
        // "ten": 10 layers × 4 KiB per token of f16 KV = 160 MiB at 4096; four slots hold four times that.
        Assert.Equal(160 * MiB, one.Gpus[0].KvBytes);
        Assert.Equal(4 * one.Gpus[0].KvBytes, four.Gpus[0].KvBytes);
        Assert.Equal(four.Gpus[0].TotalBytes, plan.Estimate.Gpus[0].TotalBytes);
    }

    [Fact]
    public void Slots_are_given_up_before_context_and_the_plan_says_so()
    {
        var two = Estimator.Estimate(Ten, 4096, GgmlType.F16, 11, slots: 2).Gpus[0].TotalBytes;

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, two + Reserve)), Request() with { Parallel = 4 }));

        Assert.Equal((2, 4096UL, 11), (plan.Parallel, plan.ContextLength, plan.GpuLayers));
        Assert.Equal(["parallel 4 → 2: 4 slots of n_ctx 4096 do not fit"], plan.Steps);
    }

    [Fact]
    public void Below_min_parallel_the_context_shrinks_instead()
    {
        var free = Estimator.Estimate(Ten, 2048, GgmlType.F16, 11, slots: 2).Gpus[0].TotalBytes + Reserve;

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request() with { Parallel = 4, MinParallel = 2 }));

        Assert.Equal((2, 2048UL), (plan.Parallel, plan.ContextLength));
        Assert.Equal(
            ["parallel 4 → 2: no slot count fits at n_ctx 4096", "context 4096 → 2048: the longest that fits with 2 slot(s), min_context 1024"],
            plan.Steps);
    }

    [Fact]
    public void Partial_offload_is_named_after_slots_and_context()
    {
        var free = Estimator.Estimate(Ten, 1024, GgmlType.F16, 9).Gpus[0].TotalBytes + Reserve;

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request() with { Parallel = 2 }));

        Assert.Equal(1, plan.Parallel);
        Assert.True(plan.GpuLayers < 11);
        Assert.Equal("parallel 2 → 1: no slot count fits at n_ctx 4096", plan.Steps[0]);
        Assert.Contains(plan.Steps, s => s.StartsWith("partial offload: ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Q8_0", 34)]
    [InlineData("Q4_0", 18)]
    public void A_quantized_cache_takes_its_bytes_per_block(string type, ulong blockBytes)
    {
        var cacheType = KvCacheType.FromGgmlType(Enum.Parse<GgmlType>(type));

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 24 * GiB)), Request() with { CacheType = cacheType }));

        // 10 layers × 4096 cells × 8 heads × (128 + 128) elements, in blocks of 32 elements.
        Assert.Equal(10UL * 4096 * 8 * 256 / 32 * blockBytes, plan.Estimate.Gpus[0].KvBytes);
        Assert.Equal(cacheType, plan.Estimate.CacheType);
    }

    [Fact]
    public void A_model_pinned_to_a_gpu_is_placed_only_there()
    {
        var context = Context(64 * GiB, [], GpuWithFree(0, 24 * GiB), GpuWithFree(1, 16 * GiB), GpuWithFree(2, 20 * GiB));

        var free = AssertPlan(Planner.Plan(context, Request()));
        var pinned = AssertPlan(Planner.Plan(context, Request() with { AllowedGpus = new HashSet<int> { 1 } }));
        var split = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, 24 * GiB), GpuWithFree(1, 8 * GiB), GpuWithFree(2, 8 * GiB)), Request(split: true) with { AllowedGpus = new HashSet<int> { 1, 2 } }));

        Assert.Equal([0], free.GpuIndices);
        Assert.Equal([1], pinned.GpuIndices);
        Assert.DoesNotContain(0, split.GpuIndices);
    }
}

using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

/// <summary>A generic model is placed by its declared footprint, or by a measured one once there is one.</summary>
public sealed class DeclaredFootprintPlannerTests
{
    private static GenericLoad Load(ulong hostMib, ulong gpuMib, int gpus, MeasuredFootprint? measured = null) =>
        new("whisper", 4096, new DeclaredFootprint(hostMib * MiB, gpuMib * MiB, gpus), measured);

    [Fact]
    public void It_goes_to_the_gpu_with_the_most_memory_available_and_evicts_nothing_when_it_fits()
    {
        var plan = AssertPlan(DeclaredFootprintPlanner.Plan(Context(8 * GiB, [], GpuWithFree(0, 4 * GiB), GpuWithFree(1, 10 * GiB)), Load(1024, 6000, 1)));

        Assert.Equal([1], plan.GpuIndices);
        Assert.Empty(plan.Evictions);
        Assert.Equal(6000 * MiB, plan.Estimate.Gpus.Single().TotalBytes);
        Assert.Equal(1024 * MiB, plan.Estimate.HostTotalBytes);
        Assert.Equal("GPU1, n_ctx 4096, evicting nothing, footprint declared (memory_mib, gpu_memory_mib; not measured yet): host 1.00 GiB, 5.86 GiB on each GPU", plan.Summary());
    }

    [Fact]
    public void It_evicts_the_lowest_priority_idle_instance_that_holds_the_memory_it_needs_and_never_a_pinned_one()
    {
        var loaded = new[] { Instance("pinned", 0, 8 * GiB, priority: -10, pinned: true), Instance("low", 0, 8 * GiB, priority: 0), Instance("high", 0, 8 * GiB, priority: 90) };
        var plan = AssertPlan(DeclaredFootprintPlanner.Plan(Context(8 * GiB, loaded, GpuWithFree(0, 2 * GiB)), Load(512, 6000, 1)));

        Assert.Equal(["low"], plan.Evictions.Select(e => e.Name));
    }

    [Fact]
    public void A_cpu_model_needs_only_ram_and_evicts_for_it()
    {
        var loaded = new[] { Instance("old", 0, 1 * GiB, minutesAgo: 30) };
        var plan = AssertPlan(DeclaredFootprintPlanner.Plan(Context(512 * MiB, loaded, GpuWithFree(0, 20 * GiB)), Load(1024, 0, 0)));

        Assert.Empty(plan.GpuIndices);
        Assert.Equal(["old"], plan.Evictions.Select(e => e.Name));
    }

    [Fact]
    public void Several_gpus_are_the_ones_with_the_most_available_each_holding_the_declared_share()
    {
        var plan = AssertPlan(DeclaredFootprintPlanner.Plan(
            Context(8 * GiB, [], GpuWithFree(0, 3 * GiB), GpuWithFree(1, 12 * GiB), GpuWithFree(2, 11 * GiB)), Load(512, 8000, 2)));

        Assert.Equal([1, 2], plan.GpuIndices);
        Assert.Equal([8000 * MiB, 8000 * MiB], plan.Estimate.Gpus.Select(g => g.TotalBytes));
    }

    [Fact]
    public void A_refusal_names_what_was_needed_and_available_and_what_protects_the_rest()
    {
        var refusal = Assert.IsType<PlanRefusal>(DeclaredFootprintPlanner.Plan(
            Context(8 * GiB, [Instance("busy", 0, 8 * GiB, busy: true)], GpuWithFree(0, 4 * GiB)), Load(512, 10_000, 1)));

        Assert.Equal(
            "whisper needs 512.0 MiB of RAM (8.00 GiB available after evicting every evictable instance); 9.77 GiB on GPU0 (3.50 GiB available after its 512.0 MiB "
            + "reserve and every eviction); footprint declared (memory_mib, gpu_memory_mib; not measured yet): busy is busy",
            refusal.Reason);
        Assert.StartsWith("whisper needs 1 GPU(s) with 9.77 GiB each, and 0 can be used (CPU mode: no driver)",
            Assert.IsType<PlanRefusal>(DeclaredFootprintPlanner.Plan(
                new PlacementContext(GpuSnapshot.CpuMode(Now, "no driver"), 8 * GiB, [], Reserve), Load(512, 10_000, 1))).Reason);
    }

    [Fact]
    public void A_measured_footprint_replaces_the_declaration()
    {
        var measured = new MeasuredFootprint("generic:whisper", "g:abc", GgmlType.F16, true, 4096, 1, 3 * GiB, 700 * MiB, Now);
        var context = Context(8 * GiB, [Instance("other", 0, 4 * GiB)], GpuWithFree(0, 4 * GiB));

        var declared = AssertPlan(DeclaredFootprintPlanner.Plan(context, Load(1024, 6000, 1)));
        var plan = AssertPlan(DeclaredFootprintPlanner.Plan(context, Load(1024, 6000, 1, measured)));

        Assert.Equal(["other"], declared.Evictions.Select(e => e.Name));
        Assert.Empty(plan.Evictions);
        Assert.Equal(3 * GiB, plan.Estimate.Gpus.Single().TotalBytes);
        Assert.Equal(700 * MiB, plan.Estimate.HostTotalBytes);
        Assert.Same(measured, plan.Measured);
        Assert.Contains("footprint measured 2026-06-01 12:00:00 UTC (declared: host 1.00 GiB, 5.86 GiB per GPU): host 700.0 MiB, 3.00 GiB on each GPU", plan.Summary(), StringComparison.Ordinal);
    }
}

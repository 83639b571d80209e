using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

/// <summary>A measured footprint replaces the formula's fixed costs where it bounds the placement, and the plan says so.</summary>
public sealed class MeasuredPlanningTests
{
    private static readonly ulong FormulaFixed = FullOffloadNeed(4096) - WeightsAndKv(4096);

    [Fact]
    public void A_smaller_measured_fixed_cost_lets_every_layer_fit_where_the_formula_refuses()
    {
        var free = WeightsAndKv(4096) + (FormulaFixed / 2) + Reserve;
        var measured = Measured(4096, 11, gpuFixed: FormulaFixed / 2);

        var formula = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request(minContextLength: 4096)));
        var withMeasurement = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request(minContextLength: 4096) with { Measurements = [measured] }));

        Assert.Equal(10, formula.GpuLayers);
        Assert.Null(formula.Measured);
        Assert.Contains("fixed costs: formula (no measured load of this file yet)", formula.Summary(), StringComparison.Ordinal);
        Assert.Equal(11, withMeasurement.GpuLayers);
        Assert.Equal(measured, withMeasurement.Measured);
        Assert.Contains("fixed costs: measured 2026-11-24 at n_ctx 4096, -ngl 11, llama.cpp b1", withMeasurement.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_larger_measured_fixed_cost_keeps_the_planner_from_overcommitting()
    {
        var free = FullOffloadNeed(4096) + Reserve;
        var measured = Measured(4096, 11, gpuFixed: FormulaFixed + (1 * GiB));

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request(minContextLength: 4096) with { Measurements = [measured] }));

        Assert.True(plan.GpuLayers < 11, $"expected a partial offload, got -ngl {plan.GpuLayers}");
    }

    [Fact]
    public void A_measurement_at_a_smaller_context_does_not_bound_a_larger_one()
    {
        var free = WeightsAndKv(4096) + (FormulaFixed / 2) + Reserve;

        var plan = AssertPlan(Planner.Plan(Context(64 * GiB, [], GpuWithFree(0, free)), Request(minContextLength: 4096) with { Measurements = [Measured(2048, 11, gpuFixed: 1)] }));

        Assert.Equal(10, plan.GpuLayers);
        Assert.Null(plan.Measured);
    }

    [Fact]
    public void Cpu_plans_use_the_measured_host_cost()
    {
        var cpuEstimate = Estimator.EstimateCpuOnly(Ten, 4096, GgmlType.F16);
        // 100 MiB more than the capacity allows at n_ctx 4096; "ten" needs 40 KiB of f16 KV per token.
        var capacity = cpuEstimate.HostTotalBytes + (512 * MiB);
        var measured = Measured(4096, 0, gpuFixed: 0, hostFixed: cpuEstimate.HostComputeBytes + (612 * MiB));

        var formula = AssertPlan(Planner.Plan(Context(capacity, []), Request(minContextLength: 1024)));
        var withMeasurement = AssertPlan(Planner.Plan(Context(capacity, []), Request(minContextLength: 1024) with { Measurements = [measured] }));

        Assert.Equal(4096UL, formula.ContextLength);
        Assert.Equal(1536UL, withMeasurement.ContextLength);
        Assert.Equal(measured, withMeasurement.Measured);
    }

    private static ulong WeightsAndKv(ulong context)
    {
        var share = Estimator.Estimate(Ten, context, GgmlType.F16, 11).Gpus[0];
        return share.WeightBytes + share.KvBytes;
    }

    private static MeasuredFootprint Measured(ulong context, int layers, ulong gpuFixed, ulong hostFixed = 0) =>
        new("ten", "b1", GgmlType.F16, layers > Ten.LayerCount, context, layers, gpuFixed, hostFixed, new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
}

using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Footprints;

public sealed class MeasuredFootprintTests
{
    private const ulong MiB = 1 << 20;
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_fixed_cost_is_what_remains_after_weights_and_kv_on_the_fullest_gpu_and_on_the_host()
    {
        var buffers = new LlamaBufferReport(
            [new BufferSizes(2000 * MiB, 256 * MiB, 296 * MiB), new BufferSizes(1500 * MiB, 256 * MiB, 300 * MiB)],
            new BufferSizes(70 * MiB, 0, 16 * MiB));

        var footprint = FootprintMeasurement.From("key", "b1", GgmlType.F16, 4096, 33, 32, buffers, [2800 * MiB, 2300 * MiB], 400 * MiB, T0);

        Assert.Equal((ulong)Math.Max(2800 - 2256, 2300 - 1756) * MiB, footprint.GpuFixedBytes);
        Assert.Equal(330 * MiB, footprint.HostFixedBytes);
        Assert.True(footprint.FullOffload);
        Assert.Equal((4096UL, 33), (footprint.ContextLength, footprint.GpuLayers));
    }

    [Fact]
    public void Readings_for_a_different_number_of_gpus_are_refused()
    {
        var buffers = new LlamaBufferReport([new BufferSizes(1, 1, 1)], new BufferSizes(0, 0, 0));

        var e = Assert.Throws<ArgumentException>(() => FootprintMeasurement.From("key", "b1", GgmlType.F16, 256, 3, 2, buffers, [], 0, T0));

        Assert.Contains("buffers on 1 GPU(s) but 0 GPU reading(s)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_bounding_measurement_has_the_same_mode_and_the_smallest_context_not_below_the_request()
    {
        MeasuredFootprint[] all =
        [
            Footprint(2048, 33),
            Footprint(8192, 33),
            Footprint(4096, 33),
            Footprint(4096, 20),
            Footprint(4096, 0),
            Footprint(4096, 33) with { CacheType = GgmlType.Q8_0 },
        ];

        Assert.Equal(4096UL, MeasuredFootprint.Bounding(all, GgmlType.F16, 33, 32, 3000)!.ContextLength);
        Assert.Equal(2048UL, MeasuredFootprint.Bounding(all, GgmlType.F16, 33, 32, 2048)!.ContextLength);
        Assert.Equal(8192UL, MeasuredFootprint.Bounding(all, GgmlType.F16, 33, 32, 5000)!.ContextLength);
        Assert.Null(MeasuredFootprint.Bounding(all, GgmlType.F16, 33, 32, 9000));
        Assert.Equal(20, MeasuredFootprint.Bounding(all, GgmlType.F16, 10, 32, 4096)!.GpuLayers);
        Assert.Equal(0, MeasuredFootprint.Bounding(all, GgmlType.F16, 0, 32, 4096)!.GpuLayers);
        Assert.Equal(GgmlType.Q8_0, MeasuredFootprint.Bounding(all, GgmlType.Q8_0, 33, 32, 4096)!.CacheType);
        Assert.Null(MeasuredFootprint.Bounding(all, GgmlType.Q4_0, 33, 32, 4096));
    }

    private static MeasuredFootprint Footprint(ulong context, int layers) =>
        new("key", "b1", GgmlType.F16, layers > 32, context, layers, 500 * MiB, 300 * MiB, T0);
}

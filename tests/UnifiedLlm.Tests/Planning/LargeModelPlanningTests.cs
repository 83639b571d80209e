using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Scheduling.Planning;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

public sealed class LargeModelPlanningTests
{
    /// <summary>
    /// Llama-3-70B-shaped: 80 layers of 512 MiB (about Q4_K_M), n_embd 8192, 64 heads, 8 KV heads of width 128
    /// (80 · 8 · 256 · 2 = 320 KiB of f16 KV per token), vocabulary 128256, 1 GiB output head and embeddings.
    /// </summary>
    private static readonly ModelProfile Llama70B = new()
    {
        Path = "/models/llama-3-70b.gguf",
        Architecture = "llama",
        Name = "llama-3-70b",
        ParameterCount = 70_553_706_496,
        LayerCount = 80,
        EmbeddingLength = 8192,
        HeadCounts = Enumerable.Repeat(64UL, 80).ToArray(),
        KvHeadCounts = Enumerable.Repeat(8UL, 80).ToArray(),
        KeyLength = 128,
        ValueLength = 128,
        ContextLength = 8192,
        VocabSize = 128256,
        SlidingWindowLayers = new bool[80],
        FileType = "Q4_K_M",
        LayerBytes = Enumerable.Repeat(512 * MiB, 80).ToArray(),
        OutputBytes = 1 * GiB,
        OutputTiedToEmbeddings = false,
        TokenEmbeddingBytes = 1 * GiB,
        TensorBytes = 42 * GiB,
        FileBytes = (long)(42 * GiB),
    };

    [Fact]
    public void A_70B_model_fills_gpus_in_order_and_every_share_fits()
    {
        var gpus = Enumerable.Range(0, 4).Select(i => GpuWithFree(i, 23 * GiB)).ToArray();
        var loaded = Enumerable.Range(0, 8).Select(i => Instance($"small-{i}", i % 4, 1 * GiB, minutesAgo: 10 * i)).ToArray();
        var context = Context(128 * GiB, loaded, gpus);
        var request = new LoadRequest(Llama70B, 8192, 2048, null, [], GgmlType.F16, AllowTensorSplit: true);

        var plan = AssertPlan(Planner.Plan(context, request));

        // Each GPU offers 23 − 0.5 = 22.5 GiB = 23,040 MiB. Fixed per GPU: full graph 4 · 512 · (1 + 4 · 8192 + 8192 · 65)
        // = 1,104 MiB + 457 MiB overhead = 1,561 MiB; each layer 512 MiB + 8192 · 4 KiB KV = 544 MiB, so
        // (23,040 − 1,561) / 544 = 39.5 → 39 layers on GPU0 and GPU1, and GPU2 takes the last 2 layers + the 1 GiB output.
        Assert.Equal([0, 1, 2], plan.GpuIndices);
        Assert.Equal([39, 39, 2], plan.Estimate.Gpus.Select(g => g.Layers));
        Assert.Equal((81, 8192UL), (plan.GpuLayers, plan.ContextLength));
        Assert.Empty(plan.Evictions);
        Assert.All(plan.Estimate.Gpus, g => Assert.True(g.TotalBytes <= 22.5 * GiB, $"{g.TotalBytes}"));
        Assert.Equal(80, plan.Estimate.Gpus.Sum(g => g.Layers));
        Assert.True(plan.Estimate.Gpus[^1].HasOutput);
        Assert.Equal(1.0, plan.TensorSplit!.Sum(), 9);
        // GPU0 is filled first: one more layer would not fit on it
        var first = plan.Estimate.Gpus[0];
        Assert.True(first.TotalBytes + (512 * MiB) + (8192UL * 8 * 256 * 2) > 22.5 * GiB);
    }
}

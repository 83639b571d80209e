using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Tests.Planning;

/// <summary>
/// A model with round numbers and the helpers the planner scenarios share. "Ten" has 10 layers of 1 GiB, a 512 MiB
/// output head and 512 MiB token embeddings; n_embd 1024, 8 heads = 8 KV heads of width 128, vocabulary 1000, so each
/// layer's f16 KV cache takes 8 · 256 · 2 = 4 KiB per token (16 MiB at n_ctx 4096).
/// </summary>
internal static class PlanningFixture
{
    public const ulong MiB = 1024 * 1024;
    public const ulong GiB = 1024 * MiB;
    public const ulong Reserve = 512 * MiB;

    public static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public static readonly LlamaCppMemoryEstimator Estimator = new(new LlamaCppSizingSettings());

    public static readonly LoadPlanner Planner = new(Estimator);

    public static ModelProfile Ten { get; } = new()
    {
        Path = "/models/ten.gguf",
        Architecture = "llama",
        Name = "ten",
        ParameterCount = 11_000_000_000,
        LayerCount = 10,
        EmbeddingLength = 1024,
        HeadCounts = Enumerable.Repeat(8UL, 10).ToArray(),
        KvHeadCounts = Enumerable.Repeat(8UL, 10).ToArray(),
        KeyLength = 128,
        ValueLength = 128,
        ContextLength = 8192,
        VocabSize = 1000,
        SlidingWindowLayers = new bool[10],
        FileType = "Q8_0",
        LayerBytes = Enumerable.Repeat(1 * GiB, 10).ToArray(),
        OutputBytes = 512 * MiB,
        OutputTiedToEmbeddings = false,
        TokenEmbeddingBytes = 512 * MiB,
        TensorBytes = 11 * GiB,
        FileBytes = (long)(11 * GiB) + 4096,
    };

    /// <summary>GPU bytes "ten" needs with every layer and the output on one GPU at this context.</summary>
    public static ulong FullOffloadNeed(ulong contextLength) =>
        Estimator.Estimate(Ten, contextLength, GgmlType.F16, 11).Gpus[0].TotalBytes;

    public static GpuDevice GpuWithFree(int index, ulong freeBytes, ulong totalBytes = 24 * GiB) =>
        new(index, "NVIDIA RTX 4090", $"GPU-{index}", $"0000:0{index + 1}:00.0", totalBytes, totalBytes - freeBytes, freeBytes, 0, 0, 40, []);

    public static PlacementContext Context(ulong hostAvailable, IReadOnlyList<LoadedInstance> loaded, params GpuDevice[] gpus) =>
        new(new GpuSnapshot(Now, "560.35", gpus, null), hostAvailable, loaded, Reserve);

    public static LoadRequest Request(ulong contextLength = 4096, ulong minContextLength = 1024, int? gpuLayers = null, bool split = false, params int[] preferred) =>
        new(Ten, contextLength, minContextLength, gpuLayers, preferred, GgmlType.F16, split);

    public static LoadedInstance Instance(string name, int gpu, ulong bytes, int priority = 0, bool pinned = false, bool busy = false, int minutesAgo = 0) =>
        new(name, new Dictionary<int, ulong> { [gpu] = bytes }, 1 * GiB, priority, pinned, busy, Now.AddMinutes(-minutesAgo));

    public static LoadPlan AssertPlan(PlacementDecision decision) =>
        decision as LoadPlan ?? throw new Xunit.Sdk.XunitException($"expected a plan, got {decision}");
}

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// Predicts llama-server's memory for a model, per-slot context and slot count (<c>--parallel</c>), KV cache types and
/// layer placement. The compute graph is sized for the whole context (slots × per-slot context), as Ollama sizes
/// num_ctx × num_parallel. Placement mirrors
/// llama.cpp: the last -ngl layers are offloaded (the output head counts as one more layer after the last block),
/// split across GPUs in order by per-GPU layer counts; token embeddings always stay on the host.
/// </summary>
internal sealed class LlamaCppMemoryEstimator(LlamaCppSizingSettings settings)
{
    public LlamaCppSizingSettings Settings { get; } = settings;

    /// <summary>Everything on one GPU except what -ngl <paramref name="gpuLayers"/> leaves on the host.</summary>
    public LlamaCppMemoryEstimate Estimate(ModelProfile model, ulong contextLength, KvCacheType cacheType, int gpuLayers, int slots = 1) =>
        Estimate(model, contextLength, cacheType, [gpuLayers], slots);

    /// <summary>No GPU: weights, KV and the whole compute graph in host RAM.</summary>
    public LlamaCppMemoryEstimate EstimateCpuOnly(ModelProfile model, ulong contextLength, KvCacheType cacheType, int slots = 1) =>
        Estimate(model, contextLength, cacheType, [], slots);

    /// <summary>
    /// <paramref name="layersPerGpu"/>[i] layers (the output head counting as one) on the i-th GPU, taken in order from the
    /// first offloaded layer; their sum is the -ngl value (at most layer count + 1).
    /// </summary>
    public LlamaCppMemoryEstimate Estimate(ModelProfile model, ulong contextLength, KvCacheType cacheType, IReadOnlyList<int> layersPerGpu, int slots = 1)
    {
        var n = model.LayerCount;
        var ngl = layersPerGpu.Sum();
        if (layersPerGpu.Any(c => c < 0) || ngl > n + 1)
        {
            throw new ArgumentException($"per-GPU layer counts [{string.Join(", ", layersPerGpu)}] must be non-negative and sum to at most {n + 1}", nameof(layersPerGpu));
        }

        if (contextLength == 0)
        {
            throw new ArgumentException("context length must be positive", nameof(contextLength));
        }

        if (slots < 1)
        {
            throw new ArgumentException($"slots {slots} must be at least 1", nameof(slots));
        }

        var total = TotalContext(contextLength, slots);
        var batch = Settings.BatchSize;
        var fullOffload = ngl > n;
        // llama.cpp offloads the last ngl of the n + 1 slots, the output head being the last (i_gpu_start = n + 1 - ngl).
        var firstGpuLayer = n + 1 - Math.Min(ngl, n + 1);
        var hostBlocks = Math.Min(firstGpuLayer, n);
        var shares = new List<GpuMemoryShare>(layersPerGpu.Count);
        var next = firstGpuLayer;
        foreach (var count in layersPerGpu)
        {
            shares.Add(Share(model, contextLength, cacheType, next, count, fullOffload, slots));
            next += count;
        }

        // A tied output head reads token_embd itself when it stays on the host, so it adds nothing there; except with no
        // GPU and Q4_0 embeddings, which llama.cpp's CPU backend repacks for the output matmul (x86 AVX2, measured by
        // bench/memory-accuracy.sh: Llama-3.2-1B 804 MiB, Qwen2.5-0.5B 338), keeping token_embd as it is for lookups.
        var repackedCopy = ngl == 0 && model.TokenEmbeddingType == Gguf.GgmlType.Q4_0;
        var hostOutput = ngl > 0 ? 0 : model.OutputTiedToEmbeddings && !repackedCopy ? model.OutputBytes - model.TokenEmbeddingBytes : model.OutputBytes;
        var hostWeights = model.TokenEmbeddingBytes + SumLayers(0, hostBlocks, l => model.LayerBytes[l]) + hostOutput;
        var hostKv = SumLayers(0, hostBlocks, l => KvCacheSize.LayerBytes(model, l, contextLength, cacheType, batch, slots));
        var hostCompute = ngl == 0
            ? ComputeGraphSize.CpuOnly(model, KvCacheSize.SlotCells(contextLength), slots, cacheType, batch)
            : fullOffload ? ComputeGraphSize.HostInputs(model, total, batch) : ComputeGraphSize.PartialOffload(model, total, batch);

        return new LlamaCppMemoryEstimate(model.Name ?? Path.GetFileName(model.Path), contextLength, cacheType, ngl, n, shares, hostWeights, hostKv, hostCompute)
        {
            Slots = slots,
        };
    }

    /// <summary>
    /// One GPU's share when it holds layer slots [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>),
    /// slot LayerCount being the output head. <paramref name="fullOffload"/> selects the full or partial compute graph.
    /// </summary>
    public GpuMemoryShare Share(ModelProfile model, ulong contextLength, KvCacheType cacheType, int first, int count, bool fullOffload, int slots = 1)
    {
        if (count == 0)
        {
            return new GpuMemoryShare(first, 0, false, 0, 0, 0, 0);
        }

        var n = model.LayerCount;
        var batch = Settings.BatchSize;
        var blocks = Math.Max(0, Math.Min(first + count, n) - first);
        var hasOutput = first + count > n;
        var weights = SumLayers(first, blocks, l => model.LayerBytes[l]) + (hasOutput ? model.OutputBytes : 0);
        var kv = SumLayers(first, blocks, l => KvCacheSize.LayerBytes(model, l, contextLength, cacheType, batch, slots));
        var total = TotalContext(contextLength, slots);
        var compute = fullOffload
            ? ComputeGraphSize.FullOffload(model, total, batch)
            : ComputeGraphSize.PartialOffload(model, total, batch);
        return new GpuMemoryShare(first, blocks, hasOutput, weights, kv, compute, Settings.GpuOverheadBytes);
    }

    /// <summary>llama-server's n_ctx for these slots: <c>--ctx-size</c> = slots × per-slot context, as the plan passes it.</summary>
    public static ulong TotalContext(ulong contextLength, int slots) => contextLength * (ulong)slots;

    private static ulong SumLayers(int first, int count, Func<int, ulong> bytes)
    {
        var sum = 0UL;
        for (var l = first; l < first + count; l++)
        {
            sum += bytes(l);
        }

        return sum;
    }
}

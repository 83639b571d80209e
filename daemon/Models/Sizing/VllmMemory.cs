using static UnifiedLlm.Daemon.Models.Sizing.ByteFormat;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>vLLM's <c>--kv-cache-dtype</c>: <see cref="Auto"/> stores the KV cache in the model's dtype, <see cref="Fp8"/> in one byte per element.</summary>
internal enum VllmKvCacheDtype
{
    Auto,
    Fp8,
}

/// <summary>What one vLLM engine needs on each GPU it runs on (all GPUs of a tensor-parallel group need the same).</summary>
internal sealed record VllmGpuNeed(ulong WeightBytes, ulong KvBytes, ulong ActivationBytes, ulong CudaGraphBytes)
{
    public ulong TotalBytes => WeightBytes + KvBytes + ActivationBytes + CudaGraphBytes;

    public string Describe() =>
        $"weights {Format(WeightBytes)} + KV {Format(KvBytes)} + activations {Format(ActivationBytes)} + CUDA graphs {Format(CudaGraphBytes)} = {Format(TotalBytes)}";
}

/// <summary>
/// vLLM's memory per GPU, term by term, for a model read from its config.json and SafeTensors headers:
/// <list type="bullet">
/// <item>weights: the tensors' bytes, split evenly over the tensor-parallel GPUs (vLLM shards every linear layer and
/// the vocabulary; the norms it replicates are a rounding error);</item>
/// <item>KV cache: layers × KV heads × head dim × 2 (K and V) × bytes per element (the model's dtype, 1 with
/// <c>--kv-cache-dtype fp8</c>) per token, each GPU holding its share of the KV heads (at least one, as vLLM replicates
/// KV heads when there are fewer than GPUs), for <c>max_model_len</c> (rounded up to vLLM's 16-token blocks) ×
/// <c>max_num_seqs</c> tokens, so that every sequence the engine batches can reach the full length;</item>
/// <item><see cref="ActivationBytes"/> and <see cref="CudaGraphBytes"/>: fixed allowances, see there.</item>
/// </list>
/// </summary>
internal static class VllmMemory
{
    /// <summary>vLLM allocates the KV cache in blocks of 16 tokens.</summary>
    public const ulong BlockTokens = 16;

    /// <summary>
    /// The activation peak of vLLM's profiling forward pass plus the sampler's logits and the non-torch memory (CUDA
    /// context, NCCL buffers), all of which vLLM counts inside its claim: the fixed 2 GiB of GPUStack's vLLM estimate
    /// (weights × 1.2 + 2 GiB). An allowance, not a measurement: no real vLLM runs on the test machines.
    /// </summary>
    public const ulong ActivationBytes = 2 * GiB;

    /// <summary>
    /// CUDA graphs vLLM captures after profiling, outside the profiled peak: vLLM logs "Graph capturing finished …
    /// took 0.5–1 GiB" for 7–70B models per GPU; 1 GiB is allowed. None with <c>--enforce-eager</c>.
    /// </summary>
    public const ulong CudaGraphBytes = 1 * GiB;

    /// <summary>Bytes per KV element: 1 for fp8, else the model's dtype (4 for F32, 2 for BF16/F16 and for quantized models, whose activations are 16-bit).</summary>
    public static ulong KvElementBytes(ModelProfile model, VllmKvCacheDtype dtype) =>
        dtype == VllmKvCacheDtype.Fp8 ? 1UL : model.FileType == "F32" ? 4UL : 2UL;

    /// <summary>KV heads one GPU of <paramref name="tensorParallel"/> holds: its share, at least one (vLLM replicates KV heads across extra GPUs).</summary>
    public static ulong KvHeadsPerGpu(ulong kvHeads, int tensorParallel) => Math.Max(1UL, kvHeads / (ulong)tensorParallel);

    /// <summary>KV bytes per token of context on one GPU of <paramref name="tensorParallel"/>, for the first <paramref name="layers"/> layers (all by default).</summary>
    public static ulong KvBytesPerToken(ModelProfile model, VllmKvCacheDtype dtype, int tensorParallel = 1, int? layers = null)
    {
        var element = KvElementBytes(model, dtype);
        return Enumerable.Range(0, layers ?? model.LayerCount)
            .Aggregate(0UL, (sum, l) => sum + (KvHeadsPerGpu(model.KvHeadCounts[l], tensorParallel) * (model.KeyLength + model.ValueLength) * element));
    }

    /// <summary>vLLM's own check of a tensor-parallel size against the model's heads, or null when it passes.</summary>
    public static string? TensorParallelProblem(ModelProfile model, int tensorParallel)
    {
        var heads = model.MaxHeadCount;
        var kvHeads = model.MaxKvHeadCount;
        if (heads % (ulong)tensorParallel != 0)
        {
            return $"its {heads} attention heads do not divide over {tensorParallel} GPUs";
        }

        return kvHeads % (ulong)tensorParallel != 0 && (ulong)tensorParallel % kvHeads != 0
            ? $"its {kvHeads} KV heads neither divide over nor evenly replicate across {tensorParallel} GPUs"
            : null;
    }

    /// <summary>
    /// The layers of each of <paramref name="stages"/> pipeline stages as vLLM splits them by default
    /// (<c>vllm.distributed.utils.get_pp_indices</c> without <c>VLLM_PP_LAYER_PARTITION</c>): an even share each, and the
    /// remainder one layer more to each stage before the last, from the second-to-last backwards.
    /// </summary>
    public static IReadOnlyList<int> StageLayers(int layers, int stages)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stages, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(stages, layers);
        var split = Enumerable.Repeat(layers / stages, stages).ToArray();
        for (var i = 2; i < (layers % stages) + 2; i++)
        {
            split[^i]++;
        }

        return split;
    }

    /// <summary>
    /// What each of <paramref name="tensorParallel"/> GPUs of this host needs for these limits. With
    /// <paramref name="pipelineStages"/> above 1 this host runs the first stage only (rank 0, where <c>vllm serve</c> and
    /// its Ray driver run): the token embeddings and its <see cref="StageLayers"/> share of the layers, and the KV cache of
    /// those layers; the other stages' weights and KV live on the Ray cluster's other nodes.
    /// </summary>
    public static VllmGpuNeed Need(ModelProfile model, int tensorParallel, ulong maxModelLen, int maxNumSeqs, VllmKvCacheDtype dtype, bool enforceEager, int pipelineStages = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tensorParallel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNumSeqs, 1);
        ArgumentOutOfRangeException.ThrowIfZero(maxModelLen);
        var tokens = (maxModelLen + BlockTokens - 1) / BlockTokens * BlockTokens * (ulong)maxNumSeqs;
        var layers = pipelineStages == 1 ? model.LayerCount : StageLayers(model.LayerCount, pipelineStages)[0];
        var held = pipelineStages == 1 ? model.TensorBytes : model.LayerBytes.Take(layers).Aggregate(model.TokenEmbeddingBytes, (sum, b) => sum + b);
        var weights = (held + (ulong)tensorParallel - 1) / (ulong)tensorParallel;
        return new VllmGpuNeed(weights, KvBytesPerToken(model, dtype, tensorParallel, layers) * tokens, ActivationBytes, enforceEager ? 0 : CudaGraphBytes);
    }

    /// <summary>
    /// <c>--gpu-memory-utilization</c>: vLLM claims this fraction of each GPU's TOTAL memory. The smallest fraction, in
    /// hundredths rounded up, whose claim on the smallest GPU covers <paramref name="needBytes"/>; above 1 when it cannot.
    /// </summary>
    public static double Utilization(ulong needBytes, ulong smallestTotalBytes)
    {
        ArgumentOutOfRangeException.ThrowIfZero(smallestTotalBytes);
        return Math.Ceiling(needBytes * 100.0 / smallestTotalBytes) / 100.0;
    }

    /// <summary>The bytes vLLM claims on a GPU of <paramref name="totalBytes"/> at <paramref name="utilization"/>.</summary>
    public static ulong Claim(double utilization, ulong totalBytes) => (ulong)(utilization * totalBytes);
}

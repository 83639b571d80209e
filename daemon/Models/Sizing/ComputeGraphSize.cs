namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// Compute (scratch) buffer estimates, from Ollama's llama-family graph formulas (fs/ggml/ggml.go GraphSize, used by
/// its per-layer fitter in llm/memory.go before Nov 2025). b = min(n_ctx, n_batch), e = embedding length,
/// c = n_ctx, h = attention heads, hkv = KV heads, d = key length, V = vocabulary. Applied to every architecture as a
/// generic estimate; the daemon corrects it with measured footprints.
/// </summary>
internal static class ComputeGraphSize
{
    /// <summary>Graph buffer when every layer and the output run on the GPU: max(4b(1 + 4e + c(1+h)), 4b(e + V)).</summary>
    public static ulong FullOffload(ModelProfile model, ulong contextLength, ulong batchSize)
    {
        var (b, e, c, h, _, _, v) = Terms(model, contextLength, batchSize);
        return Math.Max(4 * b * (1 + (4 * e) + (c * (1 + h))), 4 * b * (e + v));
    }

    /// <summary>
    /// Graph buffer when some layers stay on the CPU:
    /// 4be + max(4b(1 + e + max(c, e)) + e²·9/16 + 4c(b·h + d·hkv), 4b(e + V) + e·V·105/128).
    /// </summary>
    public static ulong PartialOffload(ModelProfile model, ulong contextLength, ulong batchSize)
    {
        var (b, e, c, h, hkv, d, v) = Terms(model, contextLength, batchSize);
        var attention = (4 * b * (1 + e + Math.Max(c, e))) + (e * e * 9 / 16) + (4 * c * ((b * h) + (d * hkv)));
        var vocabulary = (4 * b * (e + v)) + (e * v * 105 / 128);
        return (4 * b * e) + Math.Max(attention, vocabulary);
    }

    /// <summary>
    /// The CPU compute and output buffers of a CPU-only load of a dense model, as llama.cpp sizes them with flash attention
    /// (which its "auto" turns on for the CPU), measured on llama-server for five shapes (bench/memory-accuracy.sh): at the
    /// peak, the FFN's gate, up and their product (3·b·n_ff floats) and four b·e activations (three with a quantized V
    /// cache; a quantized K alone changes nothing), plus the F16 attention mask over one slot's cells (2·b·cells); llama.cpp
    /// keeps one token's logits per slot (n_outputs_max), slots × V floats. The logits of a whole batch, which
    /// <see cref="FullOffload"/> counts (4b·V, 250 MiB for a 128k vocabulary), are not there. Mixture-of-experts models
    /// and models that do not give their FFN length keep <see cref="FullOffload"/>.
    /// <para>
    /// With flash attention off (<see cref="KvCacheType.WithoutFlashAttention"/>) llama.cpp materialises the attention
    /// scores, an F32 matrix of b × one slot's cells × heads, beside six b·e activations; the peak is the larger of that
    /// and the FFN's (measured on llama-server: Llama-3.2-1B 154.01 MiB against 66.01 with flash attention, for 1 and 4
    /// slots of 2048 cells; Qwen2.5-0.5B 69.26 MiB, estimated 68.5).
    /// </para>
    /// </summary>
    public static ulong CpuOnly(ModelProfile model, ulong slotCells, int slots, KvCacheType cacheType, ulong batchSize)
    {
        var total = slotCells * (ulong)slots;
        if (model.ExpertCount > 0 || model.FeedForwardLength == 0)
        {
            return FullOffload(model, total, batchSize);
        }

        var b = Math.Min(total, batchSize);
        var activations = cacheType.QuantizedV ? 3UL : 4UL;
        var feedForward = 4 * b * ((3 * model.FeedForwardLength) + (activations * model.EmbeddingLength));
        var peak = cacheType.WithoutFlashAttention
            ? Math.Max(feedForward, (4 * b * slotCells * model.MaxHeadCount) + (24 * b * model.EmbeddingLength))
            : feedForward;
        return peak + (2 * b * slotCells) + (4 * (ulong)slots * model.VocabSize);
    }

    /// <summary>The host-side buffer when everything is offloaded: the input embeddings (4be), which llama.cpp builds on the CPU.</summary>
    public static ulong HostInputs(ModelProfile model, ulong contextLength, ulong batchSize) =>
        4 * Math.Min(contextLength, batchSize) * model.EmbeddingLength;

    private static (ulong B, ulong E, ulong C, ulong H, ulong Hkv, ulong D, ulong V) Terms(ModelProfile model, ulong contextLength, ulong batchSize) =>
        (Math.Min(contextLength, batchSize), model.EmbeddingLength, contextLength, model.MaxHeadCount, model.MaxKvHeadCount, model.KeyLength, model.VocabSize);
}

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

    /// <summary>The host-side buffer when everything is offloaded: the input embeddings (4be), which llama.cpp builds on the CPU.</summary>
    public static ulong HostInputs(ModelProfile model, ulong contextLength, ulong batchSize) =>
        4 * Math.Min(contextLength, batchSize) * model.EmbeddingLength;

    private static (ulong B, ulong E, ulong C, ulong H, ulong Hkv, ulong D, ulong V) Terms(ModelProfile model, ulong contextLength, ulong batchSize) =>
        (Math.Min(contextLength, batchSize), model.EmbeddingLength, contextLength, model.MaxHeadCount, model.MaxKvHeadCount, model.KeyLength, model.VocabSize);
}

using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// llama.cpp KV cache size: each attention layer stores, per cell, n_head_kv × (key_length + value_length) elements of
/// the cache type. Full-attention layers have n_ctx cells; sliding-window layers keep only
/// pad(window + n_ubatch, 256) cells (llama.cpp's iSWA cache, single sequence), never more than n_ctx.
/// </summary>
internal static class KvCacheSize
{
    /// <summary>llama.cpp pads KV cache sizes to this many cells.</summary>
    public const ulong CellPadding = 256;

    public static readonly IReadOnlySet<GgmlType> SupportedTypes = new HashSet<GgmlType>
    {
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.IQ4_NL, GgmlType.Q5_0, GgmlType.Q5_1,
    };

    /// <summary>Cells the layer's cache holds at this context size.</summary>
    public static ulong Cells(ModelProfile model, int layer, ulong contextLength, ulong microBatch)
    {
        if (model.SlidingWindow is not { } window || !model.SlidingWindowLayers[layer])
        {
            return contextLength;
        }

        var swaCells = (window + microBatch + CellPadding - 1) / CellPadding * CellPadding;
        return Math.Min(contextLength, swaCells);
    }

    /// <summary>Bytes one cell of this layer takes: n_head_kv × (k_len + v_len) elements at the cache type's size.</summary>
    public static ulong BytesPerCell(ModelProfile model, int layer, GgmlType cacheType)
    {
        if (!SupportedTypes.Contains(cacheType))
        {
            throw new ArgumentException($"{cacheType} is not a llama.cpp KV cache type", nameof(cacheType));
        }

        var elements = model.KvHeadCounts[layer] * (model.KeyLength + model.ValueLength);
        return elements * (ulong)GgmlTypeTraits.TypeSize(cacheType) / (ulong)GgmlTypeTraits.BlockSize(cacheType);
    }

    public static ulong LayerBytes(ModelProfile model, int layer, ulong contextLength, GgmlType cacheType, ulong microBatch) =>
        Cells(model, layer, contextLength, microBatch) * BytesPerCell(model, layer, cacheType);

    /// <summary>Bytes per token of context over all layers, ignoring sliding-window caps.</summary>
    public static ulong BytesPerToken(ModelProfile model, GgmlType cacheType) =>
        Enumerable.Range(0, model.LayerCount).Aggregate(0UL, (sum, l) => sum + BytesPerCell(model, l, cacheType));
}

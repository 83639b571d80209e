namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// llama.cpp KV cache size with <c>--parallel</c> slots and a cache per slot (no <c>--kv-unified</c>): llama.cpp pads
/// each slot's context to a multiple of 256 cells, and each attention layer stores, per cell, n_head_kv × key_length
/// elements of the K type and n_head_kv × value_length of the V type. Full-attention layers have the slot's cells;
/// sliding-window layers keep only pad(window + n_ubatch, 256) cells per slot (llama.cpp's iSWA cache), never more.
/// </summary>
internal static class KvCacheSize
{
    /// <summary>llama.cpp pads KV cache sizes to this many cells.</summary>
    public const ulong CellPadding = 256;

    /// <summary>The cells llama.cpp gives one slot for this context (n_ctx_seq).</summary>
    public static ulong SlotCells(ulong contextLength) => Pad(contextLength);

    /// <summary>Cells the layer's cache holds at this per-slot context, over all <paramref name="slots"/>.</summary>
    public static ulong Cells(ModelProfile model, int layer, ulong contextLength, ulong microBatch, int slots = 1)
    {
        var perSlot = SlotCells(contextLength);
        if (model.SlidingWindow is { } window && model.SlidingWindowLayers[layer])
        {
            perSlot = Math.Min(perSlot, Pad(window + microBatch));
        }

        return perSlot * (ulong)slots;
    }

    /// <summary>Bytes one cell of this layer takes: n_head_kv × k_len elements of K plus n_head_kv × v_len of V.</summary>
    public static ulong BytesPerCell(ModelProfile model, int layer, KvCacheType cacheType)
    {
        if (!KvCacheType.IsSupported(cacheType.K) || !KvCacheType.IsSupported(cacheType.V))
        {
            throw new ArgumentException($"{cacheType} is not a llama.cpp KV cache type", nameof(cacheType));
        }

        var heads = model.KvHeadCounts[layer];
        return RowBytes(heads * model.KeyLength, cacheType.K) + RowBytes(heads * model.ValueLength, cacheType.V);
    }

    public static ulong LayerBytes(ModelProfile model, int layer, ulong contextLength, KvCacheType cacheType, ulong microBatch, int slots = 1) =>
        Cells(model, layer, contextLength, microBatch, slots) * BytesPerCell(model, layer, cacheType);

    /// <summary>Bytes per token of context over all layers, ignoring sliding-window caps.</summary>
    public static ulong BytesPerToken(ModelProfile model, KvCacheType cacheType) =>
        Enumerable.Range(0, model.LayerCount).Aggregate(0UL, (sum, l) => sum + BytesPerCell(model, l, cacheType));

    /// <summary>
    /// Why llama.cpp would refuse these cache types for this model (a block type whose block size does not divide the
    /// head width, as llama_init_from_model checks), or null when it accepts them.
    /// </summary>
    public static string? Incompatibility(ModelProfile model, KvCacheType cacheType)
    {
        foreach (var (which, type, width) in new[] { ("K", cacheType.K, model.KeyLength), ("V", cacheType.V, model.ValueLength) })
        {
            if (!KvCacheType.IsSupported(type))
            {
                return $"{KvCacheType.NameOf(type)} is not a llama.cpp KV cache type";
            }

            var block = (ulong)Gguf.GgmlTypeTraits.BlockSize(type);
            if (width % block != 0)
            {
                return $"{which} cache type {KvCacheType.NameOf(type)} has blocks of {block} elements, which do not divide the model's head width {width}";
            }
        }

        return null;
    }

    private static ulong RowBytes(ulong elements, Gguf.GgmlType type) =>
        elements * (ulong)Gguf.GgmlTypeTraits.TypeSize(type) / (ulong)Gguf.GgmlTypeTraits.BlockSize(type);

    private static ulong Pad(ulong cells) => (cells + CellPadding - 1) / CellPadding * CellPadding;
}

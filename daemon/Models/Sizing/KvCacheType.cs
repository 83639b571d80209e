using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// The ggml types of llama.cpp's K and V caches (<c>--cache-type-k</c>, <c>--cache-type-v</c>). Each row of a cache holds
/// one head's worth of elements, so a block type's block size must divide the head width.
/// </summary>
internal readonly record struct KvCacheType(GgmlType K, GgmlType V)
{
    public static readonly KvCacheType F16 = new(GgmlType.F16, GgmlType.F16);

    /// <summary>The types llama-server's <c>-ctk</c>/<c>-ctv</c> accept, by the names it takes.</summary>
    public static readonly IReadOnlyDictionary<string, GgmlType> Names = new Dictionary<string, GgmlType>(StringComparer.Ordinal)
    {
        ["f32"] = GgmlType.F32,
        ["f16"] = GgmlType.F16,
        ["bf16"] = GgmlType.BF16,
        ["q8_0"] = GgmlType.Q8_0,
        ["q4_0"] = GgmlType.Q4_0,
        ["q4_1"] = GgmlType.Q4_1,
        ["iq4_nl"] = GgmlType.IQ4_NL,
        ["q5_0"] = GgmlType.Q5_0,
        ["q5_1"] = GgmlType.Q5_1,
    };

    /// <summary>Both caches of one type, as a single "cache type" means.</summary>
    public static implicit operator KvCacheType(GgmlType both) => FromGgmlType(both);

    public static KvCacheType FromGgmlType(GgmlType both) => new(both, both);

    public static bool IsSupported(GgmlType type) => Names.Values.Contains(type);

    /// <summary>The name llama-server takes for <paramref name="type"/> ("q8_0").</summary>
    public static string NameOf(GgmlType type) => type.ToString().ToLowerInvariant();

    /// <summary>
    /// <c>flash_attn = "off"</c>: llama.cpp computes attention with an explicit score matrix, which its compute buffer
    /// holds (<see cref="ComputeGraphSize.CpuOnly"/>). It travels with the cache types because every estimate takes them.
    /// </summary>
    public bool WithoutFlashAttention { get; init; }

    /// <summary>A quantized V cache: llama.cpp refuses it unless flash attention is enabled.</summary>
    public bool QuantizedV => V is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);

    /// <summary>"f16", or "k q8_0, v q4_0" when the two differ.</summary>
    public override string ToString() => K == V ? NameOf(K) : $"k {NameOf(K)}, v {NameOf(V)}";
}

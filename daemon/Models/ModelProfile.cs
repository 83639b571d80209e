namespace UnifiedLlm.Daemon.Models;

/// <summary>
/// What the sizing code needs to know about a model, derived from GGUF metadata or a SafeTensors config.json, and the tensor table.
/// Per-layer lists have <see cref="LayerCount"/> entries. Byte figures are exact sums of tensor sizes, so mixed
/// quantization (e.g. Q4_K_M's Q6_K layers) is accounted for.
/// </summary>
internal sealed record ModelProfile
{
    public const string GgufFormat = "gguf";
    public const string SafeTensorsFormat = "safetensors";

    /// <summary>The path of the GGUF file, or of the SafeTensors model directory.</summary>
    public required string Path { get; init; }

    /// <summary><see cref="GgufFormat"/> or <see cref="SafeTensorsFormat"/>; profiles stored before formats existed read back as GGUF.</summary>
    public string Format { get; init; } = GgufFormat;

    public required string Architecture { get; init; }

    public string? Name { get; init; }

    /// <summary>general.parameter_count, or the summed element count of all tensors.</summary>
    public required ulong ParameterCount { get; init; }

    public required int LayerCount { get; init; }

    public required ulong EmbeddingLength { get; init; }

    public required IReadOnlyList<ulong> HeadCounts { get; init; }

    /// <summary>KV heads per layer; fewer than the attention heads means grouped-query attention.</summary>
    public required IReadOnlyList<ulong> KvHeadCounts { get; init; }

    /// <summary>Per-head key width ({arch}.attention.key_length, default embedding / heads).</summary>
    public required ulong KeyLength { get; init; }

    /// <summary>Per-head value width ({arch}.attention.value_length, default embedding / heads).</summary>
    public required ulong ValueLength { get; init; }

    /// <summary>The training context ({arch}.context_length).</summary>
    public required ulong ContextLength { get; init; }

    public required ulong VocabSize { get; init; }

    /// <summary>The widest layer's feed-forward length ({arch}.feed_forward_length), or 0 when the file does not say.</summary>
    public ulong FeedForwardLength { get; init; }

    public ulong ExpertCount { get; init; }

    public ulong ExpertUsedCount { get; init; }

    /// <summary>Sliding-window size, or null when the model has none.</summary>
    public ulong? SlidingWindow { get; init; }

    /// <summary>Which layers use the sliding window (all false when <see cref="SlidingWindow"/> is null).</summary>
    public required IReadOnlyList<bool> SlidingWindowLayers { get; init; }

    /// <summary>general.file_type as a quantization name (Q4_K_M, F16, ...), or null when absent.</summary>
    public string? FileType { get; init; }

    /// <summary>Bytes of each layer's <c>blk.N.*</c> tensors.</summary>
    public required IReadOnlyList<ulong> LayerBytes { get; init; }

    /// <summary>Bytes of the output head: output.weight plus output_norm and other non-layer tensors that go with it; token_embd's size again when the output is tied.</summary>
    public required ulong OutputBytes { get; init; }

    public required bool OutputTiedToEmbeddings { get; init; }

    public required ulong TokenEmbeddingBytes { get; init; }

    /// <summary>token_embd.weight's ggml type, or null when the file has none.</summary>
    public Gguf.GgmlType? TokenEmbeddingType { get; init; }

    public required ulong TensorBytes { get; init; }

    public required long FileBytes { get; init; }

    public bool IsMixtureOfExperts => ExpertCount > 1;

    public ulong MaxHeadCount => HeadCounts.Count == 0 ? 0 : HeadCounts.Max();

    public ulong MaxKvHeadCount => KvHeadCounts.Count == 0 ? 0 : KvHeadCounts.Max();
}

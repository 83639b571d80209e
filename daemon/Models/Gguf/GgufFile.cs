namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>Everything in a GGUF file except the tensor data.</summary>
internal sealed record GgufFile(
    string Source,
    uint Version,
    GgufMetadata Metadata,
    IReadOnlyList<GgufTensorInfo> Tensors,
    uint Alignment,
    long DataOffset,
    long FileLength)
{
    public const uint DefaultAlignment = 32;

    public ulong TensorBytes => Tensors.Aggregate(0UL, (sum, t) => sum + t.ByteSize);
}

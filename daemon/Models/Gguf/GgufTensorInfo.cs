namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>One tensor's description. <see cref="Offset"/> is relative to the data section; <see cref="Dimensions"/> are ggml order (fastest first).</summary>
internal sealed record GgufTensorInfo(string Name, IReadOnlyList<ulong> Dimensions, GgmlType Type, ulong Offset, ulong ByteSize)
{
    public ulong ElementCount => Dimensions.Aggregate(1UL, (product, d) => product * d);
}

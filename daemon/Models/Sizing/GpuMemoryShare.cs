namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>What one GPU holds: layers [FirstLayer, FirstLayer + Layers), the output head when <see cref="HasOutput"/>, and its buffers.</summary>
internal sealed record GpuMemoryShare(
    int FirstLayer,
    int Layers,
    bool HasOutput,
    ulong WeightBytes,
    ulong KvBytes,
    ulong ComputeBytes,
    ulong OverheadBytes)
{
    public bool IsUsed => Layers > 0 || HasOutput;

    public ulong TotalBytes => WeightBytes + KvBytes + ComputeBytes + OverheadBytes;
}

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>The parsed header of one .safetensors file: its tensors (ordered by data offset) and the optional string metadata.</summary>
internal sealed record SafeTensorsHeader(
    string Path,
    long FileBytes,
    long DataOffset,
    IReadOnlyList<SafeTensorsTensor> Tensors,
    IReadOnlyDictionary<string, string> Metadata)
{
    public ulong TensorBytes => Tensors.Aggregate(0UL, (sum, t) => sum + t.ByteSize);
}

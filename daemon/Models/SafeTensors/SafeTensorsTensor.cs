namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>One tensor entry of a SafeTensors header; offsets are relative to the data area, end exclusive.</summary>
internal sealed record SafeTensorsTensor(string Name, string DType, IReadOnlyList<ulong> Shape, ulong Begin, ulong End)
{
    public ulong ByteSize => End - Begin;

    public ulong ElementCount => Shape.Aggregate(1UL, (product, dim) => product * dim);
}

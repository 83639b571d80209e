namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>A model stored in one GGUF file or split across several (<c>name-00001-of-0000N.gguf</c>); metadata comes from the first part.</summary>
internal sealed record GgufModel(IReadOnlyList<GgufFile> Parts)
{
    public string Path => Parts[0].Source;

    public GgufMetadata Metadata => Parts[0].Metadata;

    public IReadOnlyList<GgufTensorInfo> Tensors { get; } = Parts.SelectMany(p => p.Tensors).ToArray();

    public long FileBytes => Parts.Sum(p => p.FileLength);

    public ulong TensorBytes => Parts.Aggregate(0UL, (sum, p) => sum + p.TensorBytes);
}

using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// What to load. <see cref="GpuLayers"/> null means "as many as fit" (llama.cpp -ngl semantics otherwise: the output head
/// counts as one layer after the last block). <see cref="PreferredGpus"/> are tried first, in order.
/// <see cref="Measurements"/> are earlier real loads of the same file under the same backend version; where one bounds a
/// candidate placement, its measured fixed costs replace the formula's compute buffer and CUDA overhead.
/// </summary>
internal sealed record LoadRequest(
    ModelProfile Model,
    ulong ContextLength,
    ulong MinContextLength,
    int? GpuLayers,
    IReadOnlyList<int> PreferredGpus,
    GgmlType CacheType,
    bool AllowTensorSplit)
{
    public IReadOnlyList<MeasuredFootprint> Measurements { get; init; } = [];
}

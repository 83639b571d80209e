using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// What to load. <see cref="GpuLayers"/> null means "as many as fit" (llama.cpp -ngl semantics otherwise: the output head
/// counts as one layer after the last block). <see cref="PreferredGpus"/> are tried first, in order.
/// <see cref="Measurements"/> are earlier real loads of the same file under the same backend version; where one bounds a
/// candidate placement, its measured fixed costs replace the formula's compute buffer and CUDA overhead.
/// <see cref="ContextLength"/> is what one request may use; llama-server gets <see cref="Parallel"/> slots of it, or as
/// few as <see cref="MinParallel"/> when that many do not fit. <see cref="AllowedGpus"/> pins the model to those GPU
/// indices (null: any the daemon may use).
/// </summary>
internal sealed record LoadRequest(
    ModelProfile Model,
    ulong ContextLength,
    ulong MinContextLength,
    int? GpuLayers,
    IReadOnlyList<int> PreferredGpus,
    KvCacheType CacheType,
    bool AllowTensorSplit)
{
    public int Parallel { get; init; } = 1;

    public int MinParallel { get; init; } = 1;

    public IReadOnlySet<int>? AllowedGpus { get; init; }

    public IReadOnlyList<MeasuredFootprint> Measurements { get; init; } = [];

    /// <summary>Whether the model may be split across RPC workers when it does not fit here (llama.cpp models only).</summary>
    public bool AllowRemote { get; init; }
}

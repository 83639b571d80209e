using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// What to load. <see cref="GpuLayers"/> null means "as many as fit" (llama.cpp -ngl semantics otherwise: the output head
/// counts as one layer after the last block). <see cref="PreferredGpus"/> are tried first, in order.
/// </summary>
internal sealed record LoadRequest(
    ModelProfile Model,
    ulong ContextLength,
    ulong MinContextLength,
    int? GpuLayers,
    IReadOnlyList<int> PreferredGpus,
    GgmlType CacheType,
    bool AllowTensorSplit);

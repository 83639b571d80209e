using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// What a real load of a model cost beyond its weights and KV cache (which llama.cpp sizes exactly as we do): the CUDA
/// context, compute buffers and allocator slack per GPU, and the process itself plus host buffers in RAM. Measured after
/// each load and keyed by the model file's identity, backend version, cache type, offload mode, context and layers.
/// </summary>
internal sealed record MeasuredFootprint(
    string ModelKey,
    string BackendVersion,
    GgmlType CacheType,
    bool FullOffload,
    ulong ContextLength,
    int GpuLayers,
    ulong GpuFixedBytes,
    ulong HostFixedBytes,
    DateTimeOffset MeasuredAt)
{
    /// <summary>
    /// The measurement that bounds a load at <paramref name="contextLength"/> from above: same cache type and offload mode,
    /// measured at this context or a larger one (compute buffers grow with the context), the smallest such context first.
    /// Measurements are kept for one type of both caches; a load with two different types has none.
    /// </summary>
    public static MeasuredFootprint? Bounding(IEnumerable<MeasuredFootprint> measurements, KvCacheType cacheType, int gpuLayers, int layerCount, ulong contextLength)
    {
        var fullOffload = gpuLayers > layerCount;
        var cpuOnly = gpuLayers == 0;
        return measurements
            .Where(m => m.CacheType == cacheType.K && m.CacheType == cacheType.V && m.FullOffload == fullOffload && (m.GpuLayers == 0) == cpuOnly && m.ContextLength >= contextLength)
            .OrderBy(m => m.ContextLength)
            .ThenByDescending(m => m.MeasuredAt)
            .FirstOrDefault();
    }

    public string Describe() =>
        $"measured {MeasuredAt:yyyy-MM-dd} at n_ctx {ContextLength}, -ngl {GpuLayers}, llama.cpp {BackendVersion}";
}

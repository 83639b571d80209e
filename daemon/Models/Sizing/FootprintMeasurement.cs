using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>Turns what a loaded backend really uses into a <see cref="MeasuredFootprint"/>.</summary>
internal static class FootprintMeasurement
{
    /// <summary>
    /// <paramref name="gpuUsedBytes"/> is the backend's memory on each assigned GPU in its device order (NVML, by the unit's
    /// PIDs); <paramref name="hostUsedBytes"/> its RAM (the unit's MemoryCurrent, or the process's resident set). The fixed
    /// cost is what remains after the weights and KV cache llama.cpp reported for the same device; the largest over GPUs.
    /// </summary>
    public static MeasuredFootprint From(
        string modelKey,
        string backendVersion,
        GgmlType cacheType,
        ulong contextLength,
        int gpuLayers,
        int layerCount,
        LlamaBufferReport buffers,
        IReadOnlyList<ulong> gpuUsedBytes,
        ulong hostUsedBytes,
        DateTimeOffset measuredAt)
    {
        if (gpuUsedBytes.Count != buffers.Gpus.Count)
        {
            throw new ArgumentException($"llama-server reported buffers on {buffers.Gpus.Count} GPU(s) but {gpuUsedBytes.Count} GPU reading(s) were given", nameof(gpuUsedBytes));
        }

        var gpuFixed = 0UL;
        for (var i = 0; i < gpuUsedBytes.Count; i++)
        {
            gpuFixed = Math.Max(gpuFixed, Remainder(gpuUsedBytes[i], buffers.Gpus[i]));
        }

        return new MeasuredFootprint(
            modelKey,
            backendVersion,
            cacheType,
            gpuLayers > layerCount,
            contextLength,
            gpuLayers,
            gpuFixed,
            Remainder(hostUsedBytes, buffers.Host),
            measuredAt);
    }

    private static ulong Remainder(ulong used, BufferSizes buffers)
    {
        var exact = buffers.ModelBytes + buffers.KvBytes;
        return used > exact ? used - exact : 0;
    }
}

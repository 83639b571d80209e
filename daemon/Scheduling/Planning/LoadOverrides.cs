using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// What one load asks for instead of the model's configured values (<c>ullmctl load --ctx --parallel --layers --gpu
/// --cache-type</c>, MCP <c>load_model</c>); null and <see cref="GpuLayersChoice.Configured"/> keep the configured value.
/// They hold for that instance only and are gone once it is unloaded.
/// </summary>
internal sealed record LoadOverrides(ulong? Context, int? Parallel, GpuLayersChoice GpuLayers, int? Gpu, KvCacheType? CacheType)
{
    public static readonly LoadOverrides None = new(null, null, GpuLayersChoice.Configured, null, null);

    public bool IsEmpty => this == None;

    /// <summary>"ctx 8192, parallel 2" for listings; empty when nothing is overridden.</summary>
    public override string ToString()
    {
        List<string> parts = [];
        if (Context is { } context)
        {
            parts.Add($"ctx {context}");
        }

        if (Parallel is { } parallel)
        {
            parts.Add($"parallel {parallel}");
        }

        if (GpuLayers.IsAuto)
        {
            parts.Add("layers auto");
        }
        else if (GpuLayers.Count is { } layers)
        {
            parts.Add($"layers {layers}");
        }

        if (Gpu is { } gpu)
        {
            parts.Add($"gpu {gpu}");
        }

        if (CacheType is { } cacheType)
        {
            parts.Add($"cache-type {cacheType}");
        }

        return string.Join(", ", parts);
    }
}

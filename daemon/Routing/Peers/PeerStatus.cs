using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace UnifiedLlm.Daemon.Routing.Peers;

/// <summary>
/// What a ullmd reports to its peers at <c>GET /ullm/peer/v1/status</c>: its local models (loaded or not, and the
/// requests waiting for each to load), its GPUs' free memory and its free host memory. Version 1; fields may be added
/// within a version, a change that breaks a reader takes a new path (<c>/ullm/peer/v2/…</c>) and a new version.
/// </summary>
internal sealed record PeerStatus(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("models")] IReadOnlyList<PeerModel> Models,
    [property: JsonPropertyName("gpus")] IReadOnlyList<PeerGpu> Gpus,
    [property: JsonPropertyName("host_available_bytes")] ulong HostAvailableBytes)
{
    public const int CurrentVersion = 1;

    public const string Path = "ullm/peer/v1/status";

    /// <summary>Web defaults (camelCase, case-insensitive reads, numbers in strings), as ASP.NET Core writes JSON.</summary>
    public static JsonTypeInfo<PeerStatus> Json => PeerStatusJsonContext.Default.PeerStatus;

    /// <summary>
    /// Room for a new load: the free memory of its GPUs, or its free host memory where it has none (CPU mode). Whole
    /// bytes: a model's layers spread over a host's GPUs.
    /// </summary>
    public ulong Room => Gpus.Count > 0 ? Gpus.Aggregate(0UL, (sum, g) => sum + g.FreeBytes) : HostAvailableBytes;

    /// <summary>The entry for <paramref name="name"/> (the model's name or one of its aliases), or null.</summary>
    public PeerModel? Find(string name) => Models.FirstOrDefault(m => m.Name == name || m.Aliases.Contains(name, StringComparer.Ordinal));
}

internal sealed record PeerModel(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("aliases")] IReadOnlyList<string> Aliases,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("loaded")] bool Loaded,
    [property: JsonPropertyName("queue_depth")] int QueueDepth);

internal sealed record PeerGpu(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("total_bytes")] ulong TotalBytes,
    [property: JsonPropertyName("free_bytes")] ulong FreeBytes);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(PeerStatus))]
internal sealed partial class PeerStatusJsonContext : JsonSerializerContext;

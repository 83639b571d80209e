namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// A running backend instance as the planner sees it: the memory it holds on each GPU and on the host (all of which an
/// eviction gives back), and what protects it from eviction.
/// </summary>
internal sealed record LoadedInstance(
    string Name,
    IReadOnlyDictionary<int, ulong> GpuBytes,
    ulong HostBytes,
    int Priority,
    bool Pinned,
    bool Busy,
    DateTimeOffset LastUsed)
{
    public bool IsEvictable => !Pinned && !Busy;

    public ulong BytesOn(int gpu) => GpuBytes.TryGetValue(gpu, out var bytes) ? bytes : 0;

    /// <summary>Why the instance cannot be evicted ("X is pinned", "X is busy"), or null when it can.</summary>
    public string? Protection => Pinned ? $"{Name} is pinned" : Busy ? $"{Name} is busy" : null;
}

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

    public string ProtectionReason => Pinned ? $"{Name} is pinned" : Busy ? $"{Name} is busy" : $"{Name} is evictable";
}

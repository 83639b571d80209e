using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// The machine as it is now: a GPU reading, the host RAM available to a new backend, the instances already loaded, the
/// memory to keep free on each GPU (<see cref="GpuReserveBytes"/> overrides <see cref="DefaultGpuReserveBytes"/> per index),
/// and which GPUs the daemon may use (null: all).
/// </summary>
internal sealed record PlacementContext(
    GpuSnapshot Snapshot,
    ulong HostAvailableBytes,
    IReadOnlyList<LoadedInstance> Loaded,
    ulong DefaultGpuReserveBytes,
    IReadOnlyDictionary<int, ulong>? GpuReserveBytes = null,
    IReadOnlySet<int>? AllowedGpus = null)
{
    public ulong ReserveFor(int gpu) => GpuReserveBytes?.TryGetValue(gpu, out var bytes) == true ? bytes : DefaultGpuReserveBytes;

    public IReadOnlyList<GpuDevice> UsableGpus =>
        Snapshot.Devices.Where(d => AllowedGpus is null || AllowedGpus.Contains(d.Index)).ToArray();
}

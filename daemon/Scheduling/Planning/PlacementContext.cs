using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// The machine as it is now: a GPU reading, the host RAM available to a new backend, the instances already loaded, the
/// memory to keep free on each GPU (<see cref="GpuReserveBytes"/> overrides <see cref="DefaultGpuReserveBytes"/> per index),
/// and which GPUs the daemon may use (null: all); the RPC workers' devices a split may use.
/// </summary>
internal sealed record PlacementContext(
    GpuSnapshot Snapshot,
    ulong HostAvailableBytes,
    IReadOnlyList<LoadedInstance> Loaded,
    ulong DefaultGpuReserveBytes,
    IReadOnlyDictionary<int, ulong>? GpuReserveBytes = null,
    IReadOnlySet<int>? AllowedGpus = null)
{
    /// <summary>The RPC workers' devices a load may use now (answering, held by no model of this head).</summary>
    public IReadOnlyList<RemoteDevice> Remote { get; init; } = [];

    /// <summary>Configured RPC workers left out of <see cref="Remote"/>, each with why.</summary>
    public IReadOnlyList<string> RemoteSkipped { get; init; } = [];

    public ulong ReserveFor(int gpu) => GpuReserveBytes?.TryGetValue(gpu, out var bytes) == true ? bytes : DefaultGpuReserveBytes;

    public IReadOnlyList<GpuDevice> UsableGpus =>
        Snapshot.Devices.Where(d => AllowedGpus is null || AllowedGpus.Contains(d.Index)).ToArray();
}

using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>The machine's free capacity as the scheduler plans against it: the latest GPU snapshot and the host RAM available.</summary>
internal sealed class MachineReading(Func<GpuSnapshot> gpus, Func<ulong> hostAvailableBytes)
{
    public GpuSnapshot Gpus() => gpus();

    public ulong HostAvailableBytes() => hostAvailableBytes();

    public static MachineReading Live(GpuMonitor monitor) => new(() => monitor.Current, HostMemory.AvailableBytes);
}

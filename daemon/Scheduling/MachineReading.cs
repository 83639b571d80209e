using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The machine's free capacity as the scheduler plans against it: the latest GPU snapshot, the host RAM available, and
/// the last reading of each configured RPC worker (none without a reader).
/// </summary>
internal sealed class MachineReading(Func<GpuSnapshot> gpus, Func<ulong> hostAvailableBytes, Func<IReadOnlyList<RpcWorkerReading>>? rpcWorkers = null)
{
    public GpuSnapshot Gpus() => gpus();

    public ulong HostAvailableBytes() => hostAvailableBytes();

    public IReadOnlyList<RpcWorkerReading> RpcWorkers() => rpcWorkers?.Invoke() ?? [];

    public static MachineReading Live(GpuMonitor monitor, RpcWorkerMonitor rpc) => new(() => monitor.Current, HostMemory.AvailableBytes, rpc.Readings);
}

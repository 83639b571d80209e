namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// A device an RPC worker exposes, as the planner sees it: the worker (its name, its <c>--rpc</c> address and how many
/// devices it exposes, which fixes llama.cpp's RPC device numbering), the device's index there, what it reports free,
/// and <see cref="CapacityBytes"/>, what the planner may fill (the free memory, or the worker's memory_limit_mib).
/// </summary>
internal sealed record RemoteDevice(string Worker, string Address, int WorkerDevices, int Index, ulong FreeBytes, ulong CapacityBytes);

/// <summary>The layers a plan puts on one remote device and the memory they take there (weights, KV cache, compute buffer).</summary>
internal sealed record RemoteShare(RemoteDevice Device, int Layers, ulong Bytes)
{
    /// <summary>How plans and <c>ullmctl plan</c> name it: <c>rpc:WORKER/DEVICE</c>.</summary>
    public string Label => $"rpc:{Device.Worker}/{Device.Index}";
}

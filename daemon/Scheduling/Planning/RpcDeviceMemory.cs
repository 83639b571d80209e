namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>One device an RPC worker exposes, by its index on that worker, with the memory it reports.</summary>
internal sealed record RpcDeviceMemory(int Index, ulong FreeBytes, ulong TotalBytes);

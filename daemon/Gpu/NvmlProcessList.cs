namespace UnifiedLlm.Daemon.Gpu;

/// <summary>A GPU's compute processes as NVML reported them, with the entry size the driver was measured to write.</summary>
internal sealed record NvmlProcessList(IReadOnlyList<NvmlProcessEntry> Entries, string Symbol, int EntryBytes);

internal readonly record struct NvmlProcessEntry(int Pid, ulong UsedBytes);

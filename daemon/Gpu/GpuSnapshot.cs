namespace UnifiedLlm.Daemon.Gpu;

/// <summary>One reading of every visible GPU. <see cref="CpuModeReason"/> is set (and Devices empty) when no GPU can be used.</summary>
internal sealed record GpuSnapshot(
    DateTimeOffset TakenAt,
    string? DriverVersion,
    IReadOnlyList<GpuDevice> Devices,
    string? CpuModeReason)
{
    public static GpuSnapshot CpuMode(DateTimeOffset takenAt, string reason) => new(takenAt, null, [], reason);
}

/// <summary>One GPU; <see cref="MinorNumber"/> is the N of /dev/nvidiaN (null where NVML cannot tell).</summary>
internal sealed record GpuDevice(
    int Index,
    string Name,
    string Uuid,
    string PciBusId,
    ulong TotalBytes,
    ulong UsedBytes,
    ulong FreeBytes,
    uint? UtilizationPercent,
    uint? MemoryUtilizationPercent,
    uint? TemperatureCelsius,
    IReadOnlyList<GpuProcess> Processes,
    int? MinorNumber = null);

/// <summary>A process using GPU memory; <see cref="Unit"/> names our backend unit when the PID belongs to one, else null (a foreign process).</summary>
internal sealed record GpuProcess(int Pid, ulong UsedBytes, string? Unit);

namespace UnifiedLlm.Daemon.Gpu;

/// <summary>Reads every GPU of an initialised NVML into a <see cref="GpuSnapshot"/>.</summary>
internal static class NvmlGpuReader
{
    /// <summary>
    /// One reading. A GPU whose own calls fail (e.g. GPU_IS_LOST) is left out and reported in
    /// <see cref="GpuReading.Failures"/>; a failure of the system-wide calls throws <see cref="NvmlException"/>.
    /// </summary>
    /// <param name="unitByPid">PID → name of our backend unit, to attribute GPU processes.</param>
    public static GpuReading Read(NvmlLibrary nvml, IReadOnlyDictionary<int, string> unitByPid, DateTimeOffset takenAt)
    {
        var driverVersion = nvml.GetDriverVersion();
        var count = nvml.GetDeviceCount();
        var devices = new List<GpuDevice>(count);
        var failures = new List<GpuReadFailure>();
        for (var index = 0; index < count; index++)
        {
            try
            {
                devices.Add(ReadDevice(nvml, index, unitByPid));
            }
            catch (Exception e) when (e is NvmlException or InvalidDataException)
            {
                failures.Add(new GpuReadFailure(index, e));
            }
        }

        if (devices.Count == 0)
        {
            var reason = count == 0
                ? $"NVML (driver {driverVersion ?? "unknown"}) reports no GPUs"
                : $"none of the {count} GPUs could be read: {string.Join("; ", failures.Select(f => f.Error.Message))}";
            return new GpuReading(GpuSnapshot.CpuMode(takenAt, reason), failures);
        }

        return new GpuReading(new GpuSnapshot(takenAt, driverVersion, devices, null), failures);
    }

    private static GpuDevice ReadDevice(NvmlLibrary nvml, int index, IReadOnlyDictionary<int, string> unitByPid)
    {
        var device = nvml.GetDevice(index);
        var (total, used, free) = nvml.GetMemory(device);
        var utilization = nvml.GetUtilization(device);
        var processes = nvml.GetComputeRunningProcesses(device).Entries
            .Select(p => new GpuProcess(p.Pid, p.UsedBytes, unitByPid.GetValueOrDefault(p.Pid)))
            .ToList();
        return new GpuDevice(
            index,
            nvml.GetName(device),
            nvml.GetUuid(device),
            nvml.GetPciBusId(device),
            total,
            used,
            free,
            utilization?.Gpu,
            utilization?.Memory,
            nvml.GetTemperature(device),
            processes,
            nvml.GetMinorNumber(device));
    }
}

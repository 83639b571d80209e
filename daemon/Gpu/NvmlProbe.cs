using System.Text;

namespace UnifiedLlm.Daemon.Gpu;

/// <summary>A one-shot, human-readable report of what NVML shows on this machine (for <c>ullmd --probe-gpus</c>).</summary>
internal static class NvmlProbe
{
    private const double MiB = 1024 * 1024;

    public static string Describe(IReadOnlyList<string> libraryCandidates)
    {
        var report = new StringBuilder();
        if (!NvmlSession.TryOpen(libraryCandidates, out var session, out var reason))
        {
            return report.AppendLine($"CPU mode: {reason}").ToString();
        }

        using (session)
        {
            var nvml = session.Library;
            report.AppendLine($"library: {nvml.Path}");
            report.AppendLine($"entry points: {string.Join(", ", nvml.BoundSymbols)}");
            report.AppendLine($"driver: {session.DriverVersion ?? "unknown"}");
            for (var index = 0; index < session.GpuCount; index++)
            {
                try
                {
                    report.Append(DescribeDevice(nvml, nvml.GetDevice(index)));
                }
                catch (Exception e) when (e is NvmlException or InvalidDataException)
                {
                    report.AppendLine($"GPU {index}: unreadable: {e.Message}");
                }
            }
        }

        return report.ToString();
    }

    private static string DescribeDevice(NvmlLibrary nvml, NvmlDevice device)
    {
        var report = new StringBuilder();
        var (total, used, free) = nvml.GetMemory(device);
        var utilization = nvml.GetUtilization(device);
        var temperature = nvml.GetTemperature(device);
        var minor = nvml.GetMinorNumber(device);
        report.AppendLine($"GPU {device.Index}: {nvml.GetName(device)} {nvml.GetUuid(device)} pci {nvml.GetPciBusId(device)} minor {minor?.ToString() ?? "unknown"}");
        report.AppendLine($"  memory: total {total / MiB:F0} MiB, used {used / MiB:F0} MiB, free {free / MiB:F0} MiB");
        report.AppendLine(utilization is { } u ? $"  utilization: gpu {u.Gpu} %, memory {u.Memory} %" : "  utilization: not supported");
        report.AppendLine(temperature is { } t ? $"  temperature: {t} °C" : "  temperature: not supported");
        if (minor is { } m)
        {
            report.AppendLine($"  device nodes: /dev/nvidia{m} {string.Join(" ", GpuDevicePaths.SharedNodes)}");
        }

        var processes = nvml.GetComputeRunningProcesses(device);
        report.AppendLine($"  compute processes: {processes.Entries.Count} ({processes.Symbol}, {processes.EntryBytes}-byte entries)");
        foreach (var process in processes.Entries)
        {
            report.AppendLine($"    pid {process.Pid}: {process.UsedBytes / MiB:F0} MiB");
        }

        return report.ToString();
    }
}

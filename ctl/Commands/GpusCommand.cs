using System.CommandLine;
using System.Text;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class GpusCommand
{
    public static Command Create() =>
        new Command("gpus", "GPUs as NVML reports them: memory, utilisation, temperature, our units and foreign processes").WithAction(async (_, client, json, ct) =>
        {
            var response = await client.ListGpusAsync(new ListGpusRequest(), cancellationToken: ct);
            Printer.Write(json, response, () => Render(response));
            return CtlErrors.Ok;
        });

    public static string Render(ListGpusResponse response, int? width = null)
    {
        if (response.CpuModeReason.Length > 0)
        {
            return $"no GPU in use, CPU mode: {response.CpuModeReason}\n";
        }

        var text = new StringBuilder($"NVIDIA driver {response.DriverVersion}\n");
        var table = new Table("GPU", "NAME", "USED", "FREE", "TOTAL", "RESERVE", "UTIL", "MEM-UTIL", "TEMP", "OURS", "FOREIGN");
        foreach (var g in response.Gpus)
        {
            var ours = g.Processes.Where(p => p.Unit.Length > 0).ToList();
            var foreign = g.Processes.Where(p => p.Unit.Length == 0).ToList();
            table.Add(
                g.Index,
                g.Name,
                Printer.Bytes(g.UsedBytes),
                Printer.Bytes(g.FreeBytes),
                Printer.Bytes(g.TotalBytes),
                Printer.Bytes(g.ReserveBytes),
                g.HasUtilizationPercent ? $"{g.UtilizationPercent}%" : "n/a",
                g.HasMemoryUtilizationPercent ? $"{g.MemoryUtilizationPercent}%" : "n/a",
                g.HasTemperatureCelsius ? $"{g.TemperatureCelsius}°C" : "n/a",
                Summary(ours),
                Summary(foreign));
        }

        text.Append(table.Render(width));
        var processes = new Table("GPU", "PID", "MEMORY", "UNIT", "MODEL");
        foreach (var g in response.Gpus)
        {
            foreach (var p in g.Processes)
            {
                processes.Add(g.Index, p.Pid, Printer.Bytes(p.UsedBytes), p.Unit.Length == 0 ? "(foreign)" : p.Unit, p.Model.Length == 0 ? "-" : p.Model);
            }
        }

        if (processes.Count > 0)
        {
            text.Append("\nprocesses\n").Append(processes.Render(width));
        }

        return text.ToString();
    }

    private static string Summary(List<UnifiedLlm.Admin.V1.GpuProcess> processes) =>
        processes.Count == 0 ? "-" : $"{processes.Count} ({Printer.Bytes(processes.Aggregate(0UL, (sum, p) => sum + p.UsedBytes))})";
}

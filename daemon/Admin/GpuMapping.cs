using Google.Protobuf.WellKnownTypes;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>GPU monitor snapshots to admin API messages.</summary>
internal static class GpuMapping
{
    public static GpuSummary ToSummary(GpuDevice gpu) => new()
    {
        Index = (uint)gpu.Index,
        Name = gpu.Name,
        TotalBytes = gpu.TotalBytes,
        UsedBytes = gpu.UsedBytes,
        FreeBytes = gpu.FreeBytes,
    };

    public static ListGpusResponse ToProto(GpuSnapshot snapshot, ulong reserveBytes)
    {
        var response = new ListGpusResponse
        {
            TakenAt = Timestamp.FromDateTimeOffset(snapshot.TakenAt),
            DriverVersion = snapshot.DriverVersion ?? "",
            CpuModeReason = snapshot.CpuModeReason ?? "",
        };
        foreach (var device in snapshot.Devices)
        {
            var gpu = new UnifiedLlm.Admin.V1.Gpu
            {
                Index = (uint)device.Index,
                Name = device.Name,
                Uuid = device.Uuid,
                PciBusId = device.PciBusId,
                TotalBytes = device.TotalBytes,
                UsedBytes = device.UsedBytes,
                FreeBytes = device.FreeBytes,
                ReserveBytes = reserveBytes,
            };
            if (device.UtilizationPercent is { } utilization)
            {
                gpu.UtilizationPercent = utilization;
            }

            if (device.MemoryUtilizationPercent is { } memory)
            {
                gpu.MemoryUtilizationPercent = memory;
            }

            if (device.TemperatureCelsius is { } temperature)
            {
                gpu.TemperatureCelsius = temperature;
            }

            gpu.Processes.AddRange(device.Processes.Select(p => new UnifiedLlm.Admin.V1.GpuProcess
            {
                Pid = (uint)p.Pid,
                UsedBytes = p.UsedBytes,
                Unit = p.Unit ?? "",
            }));
            response.Gpus.Add(gpu);
        }

        return response;
    }
}

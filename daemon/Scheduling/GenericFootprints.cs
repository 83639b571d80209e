using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The footprint a generic model is planned with: its declaration until a load of the same launch (command, env,
/// source, context, GPU count) was measured, then that measurement, kept in measured_footprints as llama.cpp's are.
/// A load is measured once it is ready: on each of its GPUs, the memory NVML reports for the backend's processes (by
/// unit, or by PID under the process supervisor); on the host, the resident memory of its process tree.
/// </summary>
internal sealed partial class GenericFootprints(FootprintStore store, MachineReading machine, TimeProvider time, ILogger<GenericFootprints> logger)
{
    /// <summary>How long a measurement waits for a GPU reading taken after the backend became ready.</summary>
    public static readonly TimeSpan GpuReadingWait = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan ReadingPoll = TimeSpan.FromMilliseconds(100);

    public async Task<GenericLoad> LoadAsync(ModelConfig model, BackendConfig backend, CancellationToken cancellationToken)
    {
        var declared = model.Declared ?? throw new InvalidOperationException($"{model.Name} is not a generic model");
        var measured = (await store.ListAsync(ModelKey(model), LaunchKey(model, backend), cancellationToken))
            .Where(m => m.ContextLength == (ulong)model.Context && m.GpuLayers == declared.GpuCount)
            .MaxBy(m => m.MeasuredAt);
        return new GenericLoad(model.Name, (ulong)model.Context, declared, measured);
    }

    /// <summary>Measures the ready backend and stores the result; never throws (a failure is logged and nothing is stored).</summary>
    public async Task MeasureAsync(ModelConfig model, BackendConfig backend, LoadPlan plan, BackendProcess process, CancellationToken cancellationToken)
    {
        try
        {
            var readyAt = time.GetUtcNow();
            var gpuBytes = 0UL;
            if (plan.GpuIndices.Count > 0)
            {
                // A server may take its GPU memory after it answers its health check: wait for a reading that shows it.
                var waited = time.GetTimestamp();
                while (true)
                {
                    var reading = machine.Gpus();
                    var pids = ProcessTree.Of(process.MainPid);
                    var perGpu = plan.GpuIndices
                        .Select(index => reading.Devices.FirstOrDefault(d => d.Index == index)?.Processes
                            .Where(p => p.Unit == process.UnitName || pids.Contains(p.Pid))
                            .Aggregate(0UL, (sum, p) => sum + p.UsedBytes) ?? 0)
                        .ToList();
                    if (reading.TakenAt > readyAt && perGpu.Any(b => b > 0))
                    {
                        gpuBytes = perGpu.Max();
                        break;
                    }

                    if (time.GetElapsedTime(waited) >= GpuReadingWait || pids.Count == 0)
                    {
                        LogNotMeasured(model.Name, $"no GPU reading within {GpuReadingWait.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s of it being ready listed its processes on GPU {string.Join(",", plan.GpuIndices)}");
                        return;
                    }

                    await Task.Delay(ReadingPoll, time, cancellationToken);
                }
            }

            var tree = ProcessTree.Of(process.MainPid);
            if (tree.Count == 0)
            {
                LogNotMeasured(model.Name, "its process has gone");
                return;
            }

            var footprint = new MeasuredFootprint(
                ModelKey(model), LaunchKey(model, backend), GgmlType.F16, plan.GpuIndices.Count > 0, (ulong)model.Context,
                plan.GpuIndices.Count, gpuBytes, ProcessTree.ResidentBytes(tree), time.GetUtcNow());
            await store.SaveAsync(footprint, cancellationToken);
            LogMeasured(model.Name, ByteFormat.Format(footprint.HostFixedBytes), ByteFormat.Format(footprint.GpuFixedBytes), plan.GpuIndices.Count);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogNotMeasured(model.Name, e.Message);
        }
    }

    private static string ModelKey(ModelConfig model) => "generic:" + model.Name;

    /// <summary>The backend and a digest of everything that decides what the server loads, so a changed launch is measured anew.</summary>
    private static string LaunchKey(ModelConfig model, BackendConfig backend)
    {
        var launch = string.Join('\0', [
            .. backend.Generic?.Command ?? [], .. backend.Environment.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"),
            model.Source, .. model.ExtraArgs]);
        return $"{model.BackendKey}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(launch)))[..16]}";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Model:l}: measured footprint: host {Host:l}, {Gpu:l} on each of {Gpus} GPU(s); later loads plan with it instead of the declaration")]
    private partial void LogMeasured(string model, string host, string gpu, int gpus);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model:l}: footprint not measured, later loads keep the declaration: {Reason}")]
    private partial void LogNotMeasured(string model, string reason);
}

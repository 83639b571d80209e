using Prometheus;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Adds the daemon's state to /metrics, read at each scrape: model instances by state, requests queued for a load, models
/// whose loads are refused for now (backing off, held after crashes), and GPU memory from the monitor with the reserve
/// the config keeps free. Lives here rather than in the gateway, which must not know the scheduler.
/// </summary>
internal sealed class StateMetrics(GatewayMetrics metrics, Scheduler scheduler, GpuMonitor gpus, ConfigHolder config) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var factory = Metrics.WithCustomRegistry(metrics.Registry);
        var instances = factory.CreateGauge("ullm_model_instances", "Model instances by model and state (planned, starting, loading, ready, draining).", "model", "state");
        var queued = factory.CreateGauge("ullm_model_queue_depth", "Requests waiting for a model to load.", "model");
        var used = factory.CreateGauge("ullm_gpu_memory_used_bytes", "GPU memory in use, from NVML.", "gpu", "uuid");
        var total = factory.CreateGauge("ullm_gpu_memory_total_bytes", "GPU memory, from NVML.", "gpu", "uuid");
        var ours = factory.CreateGauge("ullm_gpu_memory_backend_bytes", "GPU memory used by ullmd's backend units.", "gpu", "uuid");
        var reserve = factory.CreateGauge("ullm_gpu_memory_reserve_bytes", "GPU memory the config keeps free on each GPU (gpu.reserve_mib).", "gpu", "uuid");
        var held = factory.CreateGauge("ullm_model_load_held", "1 for a model whose loads on demand are refused: kind backoff (after failed loads) or crash_loop (held after crashes).", "model", "kind");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            SetAll(instances, scheduler.Instances()
                .Where(i => i.State is not (InstanceState.Stopped or InstanceState.Failed))
                .GroupBy(i => (i.Model, State: i.State.ToString().ToLowerInvariant()))
                .Select(g => ((string[])[g.Key.Model, g.Key.State], (double)g.Count())));
            SetAll(queued, scheduler.QueueDepths().Select(q => ((string[])[q.Key], (double)q.Value)));
            SetAll(held, scheduler.Holds().Select(h => ((string[])[h.Model, h.Kind == LoadHoldKind.CrashLoop ? "crash_loop" : "backoff"], 1.0)));
            var devices = gpus.Current.Devices;
            SetAll(used, devices.Select(d => (Labels(d), (double)d.UsedBytes)));
            SetAll(total, devices.Select(d => (Labels(d), (double)d.TotalBytes)));
            SetAll(ours, devices.Select(d => (Labels(d), (double)d.Processes.Where(p => p.Unit is not null).Aggregate(0UL, (sum, p) => sum + p.UsedBytes))));
            var reserveBytes = config.Current.Gpu.ReserveMib * 1024.0 * 1024.0;
            SetAll(reserve, devices.Select(d => (Labels(d), reserveBytes)));
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static string[] Labels(GpuDevice device) => [device.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), device.Uuid];

    /// <summary>Sets the gauge's series to exactly these: a model that unloaded since the last scrape drops out instead of staying stale.</summary>
    private static void SetAll(Gauge gauge, IEnumerable<(string[] Labels, double Value)> values)
    {
        var current = values.ToDictionary(v => string.Join('\0', v.Labels), StringComparer.Ordinal);
        foreach (var labels in gauge.GetAllLabelValues().ToList())
        {
            if (!current.ContainsKey(string.Join('\0', labels)))
            {
                gauge.RemoveLabelled(labels);
            }
        }

        foreach (var (labels, value) in current.Values)
        {
            gauge.WithLabels(labels).Set(value);
        }
    }
}

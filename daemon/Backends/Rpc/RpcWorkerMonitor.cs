using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Polling;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Backends.Rpc;

/// <summary>
/// Reads every configured RPC worker's devices (<see cref="RpcProbe"/>) at its poll interval and keeps the last answer,
/// for the planner; a worker that stops answering keeps its last figures but is not <see cref="RpcWorkerReading.Available"/>
/// until it answers again. Workers held by one of this head's models are not read: they serve that model's llama-server.
/// </summary>
internal sealed partial class RpcWorkerMonitor(ConfigHolder config, TimeProvider time, ILogger<RpcWorkerMonitor> logger) : BackgroundService
{
    private static readonly TimeSpan MaxProbeTime = TimeSpan.FromSeconds(3);
    private readonly ConcurrentDictionary<string, RpcWorkerReading> readings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> holders = new(StringComparer.Ordinal);

    /// <summary>Every configured worker, read or not, by name.</summary>
    public IReadOnlyList<RpcWorkerReading> Readings() =>
        [.. config.Current.RpcWorkers.Values.OrderBy(w => w.Name, StringComparer.Ordinal).Select(w =>
        {
            var known = readings.TryGetValue(w.Name, out var r) && r.Worker == w ? r : new RpcWorkerReading(w, [], null, null, null);
            return known with { HeldBy = holders.TryGetValue(w.Name, out var model) ? model : null };
        })];

    /// <summary>Marks these workers as held by <paramref name="model"/> from now until <see cref="Release"/>.</summary>
    public void Hold(IEnumerable<string> workers, string model)
    {
        foreach (var name in workers)
        {
            holders[name] = model;
        }
    }

    public void Release(IEnumerable<string> workers)
    {
        foreach (var name in workers)
        {
            holders.TryRemove(name, out _);
        }
    }

    /// <summary>Reads these workers now; the answer for each names why it is not usable, or null when it answered.</summary>
    public async Task<IReadOnlyList<RpcWorkerReading>> ReadNowAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var workers = names.Select(n => config.Current.RpcWorkers.TryGetValue(n, out var w) ? w : null).OfType<RpcWorkerConfig>().ToArray();
        return await Task.WhenAll(workers.Select(w => ReadAsync(w, cancellationToken))).ConfigureAwait(false);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        new PollSchedule(time, TimeSpan.FromSeconds(RpcWorkerConfig.DefaultPollSeconds)).RunAsync(
            () => config.Current.RpcWorkers.Values.Where(w => !holders.ContainsKey(w.Name)).ToDictionary(w => w.Name, w => w.PollInterval, StringComparer.Ordinal),
            (name, ct) => config.Current.RpcWorkers.TryGetValue(name, out var worker) ? ReadAsync(worker, ct) : Task.CompletedTask,
            name =>
            {
                // A held worker is not polled but keeps its last reading.
                if (!config.Current.RpcWorkers.ContainsKey(name))
                {
                    readings.TryRemove(name, out _);
                }
            },
            stoppingToken);

    private async Task<RpcWorkerReading> ReadAsync(RpcWorkerConfig worker, CancellationToken cancellationToken)
    {
        var previous = readings.TryGetValue(worker.Name, out var known) && known.Worker == worker ? known : null;
        RpcWorkerReading reading;
        try
        {
            var timeout = worker.PollInterval < MaxProbeTime ? worker.PollInterval : MaxProbeTime;
            var devices = await RpcProbe.ReadAsync(worker.Host, worker.Port, timeout, cancellationToken).ConfigureAwait(false);
            reading = new RpcWorkerReading(worker, devices, time.GetUtcNow(), devices.Count == 0 ? "it exposes no device" : null, null);
        }
        catch (RpcProbeException e)
        {
            reading = new RpcWorkerReading(worker, previous?.Devices ?? [], previous?.ReadAt, e.Message, null);
        }

        readings[worker.Name] = reading;
        if (previous is null || (previous.Problem is null) != (reading.Problem is null))
        {
            if (reading.Problem is null)
            {
                LogAnswering(worker.Name, worker.Address, reading.Devices.Count);
            }
            else
            {
                LogNotAnswering(worker.Name, worker.Address, reading.Problem);
            }
        }

        return reading with { HeldBy = holders.TryGetValue(worker.Name, out var model) ? model : null };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "rpc worker {Worker} ({Address}) answers with {Devices} device(s)")]
    private partial void LogAnswering(string worker, string address, int devices);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rpc worker {Worker} ({Address}) does not answer: {Problem}; no load is placed on it until it does")]
    private partial void LogNotAnswering(string worker, string address, string problem);
}

using System.Threading.Channels;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>The stages of a load before it ends ready or failed, in the order a load passes them.</summary>
internal enum LoadStage
{
    Queued,
    Planning,
    Evicting,
    StartingUnit,
    LoadingWeights,
}

/// <summary>How a stage is named to people (ullmctl's progress lines, the loading notice).</summary>
internal static class LoadStages
{
    public static readonly NameTable<LoadStage> Names = new(
        (LoadStage.Queued, "queued"),
        (LoadStage.Planning, "planning"),
        (LoadStage.Evicting, "evicting"),
        (LoadStage.StartingUnit, "starting unit"),
        (LoadStage.LoadingWeights, "loading weights"));
}

/// <summary>One stage a load of <paramref name="Model"/> reached, with what it is doing (the loads ahead, the victims, the unit).</summary>
internal sealed record LoadStep(string Model, LoadStage Stage, string Detail, string? Unit = null);

/// <summary>
/// Where each load in flight stands, for whoever waits on it (<c>ullmctl load</c>, a streaming request told of a cold
/// load). The scheduler reports each stage as the load reaches it; a watcher gets the stage the load is at when it
/// starts watching, then every later one, until it stops watching. Each watcher has a small bounded buffer that drops
/// its oldest steps, so a slow one can never hold up a load. A load's place in line counts the loads that began before
/// it and have not ended.
/// </summary>
internal sealed class LoadProgressBoard
{
    public const int WatcherCapacity = 32;

    private readonly Lock gate = new();
    private readonly Dictionary<string, (long Order, LoadStep Latest)> loads = new(StringComparer.Ordinal);
    private readonly List<(string Model, ChannelWriter<LoadStep> Writer)> watchers = [];
    private long order;

    /// <summary>A load of <paramref name="model"/> began; its Queued step names the loads ahead of it.</summary>
    public void Queued(string model)
    {
        lock (gate)
        {
            string[] ahead = [.. loads.Where(l => l.Key != model).OrderBy(l => l.Value.Order).Select(l => l.Key)];
            var step = new LoadStep(model, LoadStage.Queued, ahead.Length == 0 ? "next to load" : $"{ahead.Length} load(s) ahead: {string.Join(", ", ahead)}");
            loads[model] = (++order, step);
            Send(step);
        }
    }

    public void Report(string model, LoadStage stage, string detail, string? unit = null)
    {
        var step = new LoadStep(model, stage, detail, unit);
        lock (gate)
        {
            if (loads.TryGetValue(model, out var load))
            {
                loads[model] = load with { Latest = step };
            }

            Send(step);
        }
    }

    /// <summary>The load of <paramref name="model"/> ended (ready, failed or given up); it no longer counts as ahead of others.</summary>
    public void Ended(string model)
    {
        lock (gate)
        {
            loads.Remove(model);
        }
    }

    /// <summary>Under the lock, so that a watcher starting now gets each step once: a write to a bounded channel that drops its oldest never waits.</summary>
    private void Send(LoadStep step)
    {
        foreach (var (model, writer) in watchers)
        {
            if (model == step.Model)
            {
                writer.TryWrite(step);
            }
        }
    }

    /// <summary>
    /// Watches <paramref name="model"/>'s loads from now on: the current one's latest step first, then every later step,
    /// until the watch is disposed.
    /// </summary>
    public LoadWatch Watch(string model)
    {
        var channel = Channel.CreateBounded<LoadStep>(new BoundedChannelOptions(WatcherCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        var watcher = (model, channel.Writer);
        lock (gate)
        {
            watchers.Add(watcher);
            if (loads.TryGetValue(model, out var load))
            {
                channel.Writer.TryWrite(load.Latest);
            }
        }

        return new LoadWatch(channel.Reader, () =>
        {
            lock (gate)
            {
                watchers.Remove(watcher);
            }
        });
    }
}

/// <summary>One watcher's steps; disposing it stops the watch.</summary>
internal sealed class LoadWatch(ChannelReader<LoadStep> steps, Action stop) : IDisposable
{
    public ChannelReader<LoadStep> Steps => steps;

    public void Dispose() => stop();
}

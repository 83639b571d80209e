using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// The scheduler seam for gateway tests: local models served by upstream processes the test started (a real llama-server
/// or a fake HTTP server), or failing as the scheduler would, each with a connection pool of its own as the scheduler
/// gives. Counts leases still held.
/// </summary>
internal sealed class StaticModelEndpoints : IModelEndpoints, IDisposable
{
    private readonly ConcurrentDictionary<string, Func<Outcome<ModelLease>>> models = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<UpstreamConnections> pools = [];
    private readonly ConcurrentDictionary<string, int> contexts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> tooBig = new(StringComparer.Ordinal);
    private int held;

    public int HeldLeases => Volatile.Read(ref held);

    /// <summary>Where the loads stand: these models are served as they are, never loaded, so nothing reports to it.</summary>
    public LoadProgressBoard Progress { get; } = new();

    /// <summary>The [models.NAME] tables a config needs for these models to be configured local models.</summary>
    public string ConfigTables => string.Concat(models.Keys.Order(StringComparer.Ordinal).Select(m =>
        $"[models.{m}]\nbackend = \"llamacpp\"\nsource = \"/models/{m}.gguf\"\n" + (contexts.TryGetValue(m, out var context) ? $"context = {context}\n" : "")));

    /// <summary>
    /// Serves <paramref name="model"/> from <paramref name="baseAddress"/> with <paramref name="slots"/> requests at
    /// once and up to <paramref name="queueCapacity"/> waiting, as the scheduler sets a backend's pool up; a
    /// <paramref name="context"/> above 0 goes into its config table; <paramref name="lost"/> completes, with why, as
    /// the scheduler would tell its leases that the backend was lost.
    /// </summary>
    public void Serve(
        string model, Uri baseAddress, string upstreamModel, int slots = 64, int queueCapacity = 64, TimeSpan? queueTimeout = null, int context = 0, Task<string>? lost = null)
    {
        if (context > 0)
        {
            contexts[model] = context;
        }

        var connections = UpstreamConnections.ForBackend(
            TimeSpan.FromSeconds(10), new RequestAdmission(slots, queueCapacity, queueTimeout ?? TimeSpan.FromMinutes(1), TimeProvider.System));
        pools.Add(connections);
        models[model] = () =>
        {
            Interlocked.Increment(ref held);
            return new ModelLease(model, baseAddress, upstreamModel, connections, () =>
            {
                Interlocked.Decrement(ref held);
                return ValueTask.CompletedTask;
            })
            {
                Lost = lost ?? new TaskCompletionSource<string>().Task,
            };
        };
    }

    /// <summary>Makes leases on <paramref name="model"/> refused as the scheduler refuses them.</summary>
    public void Fail(string model, LeaseFailureKind kind, string reason, TimeSpan? retryAfter = null) =>
        models[model] = () => new LeaseFailure(kind, model, reason, retryAfter);

    /// <summary>Makes leases on <paramref name="model"/> throw what no caller expects: a defect's stand-in.</summary>
    public void Throw(string model, Exception defect) => models[model] = () => throw defect;

    public bool TryResolve(string model, out string canonicalName)
    {
        canonicalName = model;
        return models.ContainsKey(model);
    }

    public IReadOnlySet<string> ReadyModels() => models.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>What the planner would answer for these models: all fit but those <see cref="TooBig"/> names.</summary>
    public bool FitsWithoutEviction(string model) => !tooBig.ContainsKey(model);

    /// <summary>Makes <paramref name="model"/> one that the planner would not place here without evicting another.</summary>
    public void TooBig(string model) => tooBig[model] = true;

    public ValueTask<Outcome<ModelLease>> AcquireAsync(string model, CancellationToken cancellationToken) =>
        ValueTask.FromResult(models.TryGetValue(model, out var lease) ? lease() : new LeaseFailure(LeaseFailureKind.UnknownModel, model, $"no model '{model}'"));

    public void Dispose()
    {
        foreach (var pool in pools)
        {
            pool.Dispose();
        }
    }
}

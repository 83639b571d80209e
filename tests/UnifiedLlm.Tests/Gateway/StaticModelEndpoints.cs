using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// The scheduler seam for gateway tests: local models served by upstream processes the test started (a real llama-server
/// or a fake HTTP server), or failing as the scheduler would, each with a connection pool of its own as the scheduler
/// gives. Counts leases still held.
/// </summary>
internal sealed class StaticModelEndpoints : IModelEndpoints, IDisposable
{
    private readonly ConcurrentDictionary<string, Func<ModelLease>> models = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<UpstreamConnections> pools = [];
    private int held;

    public int HeldLeases => Volatile.Read(ref held);

    /// <summary>The [models.NAME] tables a config needs for these models to be configured local models.</summary>
    public string ConfigTables => string.Concat(models.Keys.Order(StringComparer.Ordinal).Select(m => $"[models.{m}]\nbackend = \"llamacpp\"\nsource = \"/models/{m}.gguf\"\n"));

    public void Serve(string model, Uri baseAddress, string upstreamModel)
    {
        var connections = new UpstreamConnections(TimeSpan.FromSeconds(10));
        pools.Add(connections);
        models[model] = () =>
        {
            Interlocked.Increment(ref held);
            return new ModelLease(model, baseAddress, upstreamModel, connections, () =>
            {
                Interlocked.Decrement(ref held);
                return ValueTask.CompletedTask;
            });
        };
    }

    public void Fail(string model, ModelUnavailableException error) => models[model] = () => throw error;

    public bool TryResolve(string model, out string canonicalName)
    {
        canonicalName = model;
        return models.ContainsKey(model);
    }

    public IReadOnlySet<string> ReadyModels() => models.Keys.ToHashSet(StringComparer.Ordinal);

    public ValueTask<ModelLease> AcquireAsync(string model, CancellationToken cancellationToken) =>
        models.TryGetValue(model, out var lease) ? ValueTask.FromResult(lease()) : throw new ModelUnavailableException(404, $"no model '{model}'");

    public void Dispose()
    {
        foreach (var pool in pools)
        {
            pool.Dispose();
        }
    }
}

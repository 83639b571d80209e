using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Prometheus;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>A configured model or route whose requests are cached, with its cache settings.</summary>
internal sealed record CacheOwner(string Name, CacheConfig Config);

/// <summary>What a lookup found: a stored (or coalesced) answer, or a ticket to store the answer the caller fetches.</summary>
internal sealed record CacheLookup(CachedAnswer? Hit, CacheTicket? Ticket);

/// <summary>One owner's figures, for ullmctl cache stats.</summary>
internal sealed record CacheStats(CacheOwner Owner, int Entries, long Bytes, long Hits, long Misses, long Bypasses);

/// <summary>
/// The exact-match response cache: per owner an LRU shelf bounded by entries and bytes with a TTL (read from the
/// <see cref="TimeProvider"/>), optionally persisted in SQLite; with <c>coalesce</c>, one upstream call per key at a
/// time (later identical requests wait for its answer, and try again themselves if it is not stored). Knows nothing of
/// HTTP: <see cref="CacheGate"/> puts it in front of the proxy.
/// </summary>
internal sealed partial class ResponseCache : IDisposable
{
    private readonly ConcurrentDictionary<string, CacheShelf> shelves = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Owner, string Key), Flight> flights = new();
    private readonly SemaphoreSlim loadGate = new(1, 1);
    private readonly ResponseCacheStore store;
    private readonly TimeProvider time;
    private readonly ILogger<ResponseCache> logger;
    private readonly Counter requests;
    private readonly Gauge entries;
    private readonly Gauge bytes;

    public ResponseCache(ResponseCacheStore store, GatewayMetrics metrics, TimeProvider time, ILogger<ResponseCache> logger)
    {
        this.store = store;
        this.time = time;
        this.logger = logger;
        var factory = Prometheus.Metrics.WithCustomRegistry(metrics.Registry);
        requests = factory.CreateCounter("ullm_cache_requests_total", "Requests to a cached model or route by result: hit, miss, or bypass (not cacheable: sampled, logprobs, invalid Unicode, or only a native target serves it).", "model", "result");
        entries = factory.CreateGauge("ullm_cache_entries", "Answers held in the response cache.", "model");
        bytes = factory.CreateGauge("ullm_cache_bytes", "Bytes of the answers held in the response cache.", "model");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var (owner, shelf) in shelves)
            {
                entries.WithLabels(owner).Set(shelf.Count);
                bytes.WithLabels(owner).Set(shelf.Bytes);
            }
        });
    }

    public async ValueTask<CacheLookup> LookupAsync(CacheOwner owner, string key, CancellationToken cancellationToken)
    {
        var shelf = await ShelfAsync(owner, cancellationToken);
        while (true)
        {
            if (await GetAsync(owner, shelf, key, cancellationToken) is { } stored)
            {
                Count(owner, "hit");
                return new CacheLookup(stored, null);
            }

            if (!owner.Config.Coalesce)
            {
                Count(owner, "miss");
                return new CacheLookup(null, new CacheTicket(this, owner, key, null));
            }

            var mine = new Flight();
            var flight = flights.GetOrAdd((owner.Name, key), mine);
            if (flight == mine)
            {
                // Another request may have stored the answer between the look above and taking the flight.
                if (await GetAsync(owner, shelf, key, cancellationToken) is { } late)
                {
                    Land(owner, key, mine, late);
                    Count(owner, "hit");
                    return new CacheLookup(late, null);
                }

                Count(owner, "miss");
                return new CacheLookup(null, new CacheTicket(this, owner, key, mine));
            }

            if (await flight.Answer.Task.WaitAsync(cancellationToken) is { } coalesced)
            {
                Count(owner, "hit");
                return new CacheLookup(coalesced, null);
            }

            // The first request failed, so nothing was stored: this one goes upstream itself (or waits for another that does).
        }
    }

    public void Dispose() => loadGate.Dispose();

    /// <summary>Counts a request to a cached owner that cannot be cached.</summary>
    public void CountBypass(CacheOwner owner) => Count(owner, "bypass");

    public async Task<IReadOnlyList<CacheStats>> StatsAsync(IEnumerable<CacheOwner> owners, CancellationToken cancellationToken)
    {
        var result = new List<CacheStats>();
        foreach (var owner in owners)
        {
            var shelf = await ShelfAsync(owner, cancellationToken);
            result.Add(new CacheStats(
                owner,
                shelf.Count,
                shelf.Bytes,
                (long)requests.WithLabels(owner.Name, "hit").Value,
                (long)requests.WithLabels(owner.Name, "miss").Value,
                (long)requests.WithLabels(owner.Name, "bypass").Value));
        }

        return result;
    }

    /// <summary>Drops the owners' entries, persisted ones too; returns how many entries and bytes were held in memory.</summary>
    public async Task<(int Entries, long Bytes)> ClearAsync(IEnumerable<CacheOwner> owners, CancellationToken cancellationToken)
    {
        var (count, size) = (0, 0L);
        foreach (var owner in owners)
        {
            var shelf = await ShelfAsync(owner, cancellationToken);
            var (n, b) = shelf.Clear();
            count += n;
            size += b;
            // Persisted rows go even when persist is now off: they would come back once it is on again.
            await PersistAsync(() => store.ClearAsync(owner.Name, cancellationToken));
        }

        return (count, size);
    }

    /// <summary>After a reload: forgets the shelves of owners no longer configured (their persisted rows expire in SQLite).</summary>
    public void Retain(IReadOnlySet<string> owners)
    {
        foreach (var name in shelves.Keys.Where(n => !owners.Contains(n)).ToList())
        {
            shelves.TryRemove(name, out _);
            entries.RemoveLabelled(name);
            bytes.RemoveLabelled(name);
        }
    }

    internal async Task StoreAsync(CacheOwner owner, string key, CachedAnswer answer)
    {
        var shelf = await ShelfAsync(owner, CancellationToken.None);
        var now = time.GetUtcNow();
        if (!shelf.Put(key, answer, now, out var evicted))
        {
            LogTooLarge(logger, owner.Name, answer.Bytes, owner.Config.MaxBytes);
            return;
        }

        if (owner.Config.Persist)
        {
            var row = new CacheRow(owner.Name, key, answer.Kind.ConfigName(), answer.Body, answer.PromptTokens, answer.CompletionTokens, now, now + owner.Config.Ttl);
            await PersistAsync(() => store.PutAsync(row, CancellationToken.None));
            await DeletePersistedAsync(owner, evicted);
        }
    }

    /// <summary>Ends a flight: later lookups no longer find it, and its waiters get the answer (null: go upstream yourselves).</summary>
    internal void Land(CacheOwner owner, string key, Flight flight, CachedAnswer? answer)
    {
        flights.TryRemove(new KeyValuePair<(string, string), Flight>((owner.Name, key), flight));
        flight.Answer.TrySetResult(answer);
    }

    private async ValueTask<CachedAnswer?> GetAsync(CacheOwner owner, CacheShelf shelf, string key, CancellationToken cancellationToken)
    {
        var answer = shelf.Get(key, time.GetUtcNow(), out var expired);
        if (expired && owner.Config.Persist)
        {
            await PersistAsync(() => store.DeleteAsync(owner.Name, [key], cancellationToken));
        }

        return answer;
    }

    /// <summary>The owner's shelf with the settings in force, its persisted entries read in once.</summary>
    private async ValueTask<CacheShelf> ShelfAsync(CacheOwner owner, CancellationToken cancellationToken)
    {
        var shelf = shelves.GetOrAdd(owner.Name, _ => new CacheShelf(owner.Config));
        if (shelf.Settings != owner.Config)
        {
            var dropped = shelf.Apply(owner.Config, time.GetUtcNow());
            await DeletePersistedAsync(owner, dropped);
        }

        if (owner.Config.Persist && !shelf.Loaded)
        {
            await LoadAsync(owner, shelf, cancellationToken);
        }

        return shelf;
    }

    private async Task LoadAsync(CacheOwner owner, CacheShelf shelf, CancellationToken cancellationToken)
    {
        await loadGate.WaitAsync(cancellationToken);
        try
        {
            if (shelf.Loaded)
            {
                return;
            }

            var now = time.GetUtcNow();
            var evicted = new List<string>();
            await PersistAsync(async () =>
            {
                foreach (var row in await store.LoadAsync(owner.Name, now, cancellationToken))
                {
                    if (Endpoint(row.Endpoint) is { } kind && row.StoredAt + owner.Config.Ttl > now)
                    {
                        shelf.Put(row.Key, new CachedAnswer(kind, row.Body, row.PromptTokens, row.CompletionTokens), row.StoredAt, out var dropped);
                        evicted.AddRange(dropped);
                    }
                }
            });
            shelf.Loaded = true;
            await DeletePersistedAsync(owner, evicted);
        }
        finally
        {
            loadGate.Release();
        }
    }

    private async Task DeletePersistedAsync(CacheOwner owner, List<string> keys)
    {
        if (owner.Config.Persist && keys.Count > 0)
        {
            await PersistAsync(() => store.DeleteAsync(owner.Name, keys, CancellationToken.None));
        }
    }

    /// <summary>A database failure costs persistence, not the request: the memory cache goes on, and the log says why.</summary>
    private async Task PersistAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception e) when (e is SqliteException or IOException)
        {
            LogPersistFailed(logger, e.Message);
        }
    }

    private static EndpointKind? Endpoint(string name) =>
        Enum.GetValues<EndpointKind>().Where(k => k.ConfigName() == name).Select(k => (EndpointKind?)k).FirstOrDefault();

    private void Count(CacheOwner owner, string result) => requests.WithLabels(owner.Name, result).Inc();

    [LoggerMessage(Level = LogLevel.Information, Message = "cache {Owner}: an answer of {Bytes} bytes is over max_bytes ({MaxBytes}) and is not stored")]
    private static partial void LogTooLarge(ILogger logger, string owner, long bytes, long maxBytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cache: the SQLite copy could not be updated (the memory cache goes on): {Reason}")]
    private static partial void LogPersistFailed(ILogger logger, string reason);

    /// <summary>One upstream call that identical requests wait on.</summary>
    internal sealed class Flight
    {
        public TaskCompletionSource<CachedAnswer?> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>
/// The right to store the answer to one missed lookup. <see cref="CompleteAsync"/> stores it (and hands it to coalesced
/// waiters); disposing without completing tells the waiters nothing was stored, so they go upstream themselves.
/// </summary>
internal sealed class CacheTicket(ResponseCache cache, CacheOwner owner, string key, ResponseCache.Flight? flight) : IDisposable
{
    private bool landed;

    public CacheOwner Owner => owner;

    public async Task CompleteAsync(CachedAnswer answer)
    {
        try
        {
            await cache.StoreAsync(owner, key, answer);
        }
        finally
        {
            Land(answer);
        }
    }

    public void Dispose() => Land(null);

    private void Land(CachedAnswer? answer)
    {
        if (!landed)
        {
            landed = true;
            if (flight is not null)
            {
                cache.Land(owner, key, flight, answer);
            }
        }
    }
}

using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>
/// The entries of one owner (a configured model or route), least recently used first, within its max_entries and
/// max_bytes; an entry older than the TTL in force is expired when met. Methods return the keys they dropped so the
/// caller can delete persisted copies outside the lock.
/// </summary>
internal sealed class CacheShelf(CacheConfig settings)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> byKey = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> recency = new();
    private long bytes;

    public CacheConfig Settings { get; private set; } = settings;

    /// <summary>Whether the persisted entries were read into this shelf (or there are none to read).</summary>
    public bool Loaded { get; set; }

    public int Count
    {
        get
        {
            lock (gate)
            {
                return byKey.Count;
            }
        }
    }

    public long Bytes
    {
        get
        {
            lock (gate)
            {
                return bytes;
            }
        }
    }

    /// <summary>Takes new settings (after a reload), dropping what the new bounds or TTL no longer allow.</summary>
    public List<string> Apply(CacheConfig next, DateTimeOffset now)
    {
        lock (gate)
        {
            Settings = next;
            var dropped = ExpireLocked(now);
            dropped.AddRange(TrimLocked(0));
            return dropped;
        }
    }

    public CachedAnswer? Get(string key, DateTimeOffset now, out bool expired)
    {
        lock (gate)
        {
            expired = false;
            if (!byKey.TryGetValue(key, out var node))
            {
                return null;
            }

            if (node.Value.StoredAt + Settings.Ttl <= now)
            {
                RemoveLocked(node);
                expired = true;
                return null;
            }

            recency.Remove(node);
            recency.AddLast(node);
            return node.Value.Answer;
        }
    }

    /// <summary>Stores an answer as the most recently used, evicting the least recently used until it fits; false when it alone is over max_bytes.</summary>
    public bool Put(string key, CachedAnswer answer, DateTimeOffset storedAt, out List<string> evicted)
    {
        lock (gate)
        {
            evicted = [];
            if (answer.Bytes > Settings.MaxBytes)
            {
                return false;
            }

            if (byKey.TryGetValue(key, out var old))
            {
                RemoveLocked(old);
            }

            evicted.AddRange(TrimLocked(answer.Bytes));
            byKey[key] = recency.AddLast(new Entry(key, answer, storedAt));
            bytes += answer.Bytes;
            return true;
        }
    }

    /// <summary>Drops every entry; returns how many and their bytes.</summary>
    public (int Entries, long Bytes) Clear()
    {
        lock (gate)
        {
            var result = (byKey.Count, bytes);
            byKey.Clear();
            recency.Clear();
            bytes = 0;
            return result;
        }
    }

    /// <summary>Evicts least recently used entries until one of <paramref name="incoming"/> bytes fits within both bounds.</summary>
    private List<string> TrimLocked(long incoming)
    {
        var dropped = new List<string>();
        var slots = incoming > 0 ? 1 : 0;
        while (recency.First is { } oldest && (byKey.Count + slots > Settings.MaxEntries || bytes + incoming > Settings.MaxBytes))
        {
            dropped.Add(oldest.Value.Key);
            RemoveLocked(oldest);
        }

        return dropped;
    }

    private List<string> ExpireLocked(DateTimeOffset now)
    {
        var dropped = new List<string>();
        foreach (var node in byKey.Values.Where(n => n.Value.StoredAt + Settings.Ttl <= now).ToList())
        {
            dropped.Add(node.Value.Key);
            RemoveLocked(node);
        }

        return dropped;
    }

    private void RemoveLocked(LinkedListNode<Entry> node)
    {
        recency.Remove(node);
        byKey.Remove(node.Value.Key);
        bytes -= node.Value.Answer.Bytes;
    }

    private sealed record Entry(string Key, CachedAnswer Answer, DateTimeOffset StoredAt);
}

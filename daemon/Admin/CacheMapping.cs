using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Gateway.Caching;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>The response cache's figures as the admin API's messages.</summary>
internal static class CacheMapping
{
    public static CacheModelStats ToProto(CacheStats stats) => new()
    {
        Model = stats.Owner.Name,
        Entries = (ulong)stats.Entries,
        Bytes = (ulong)stats.Bytes,
        MaxEntries = (ulong)stats.Owner.Config.MaxEntries,
        MaxBytes = (ulong)stats.Owner.Config.MaxBytes,
        TtlSeconds = (ulong)stats.Owner.Config.Ttl.TotalSeconds,
        Shared = stats.Owner.Config.Shared,
        Coalesce = stats.Owner.Config.Coalesce,
        CacheSampled = stats.Owner.Config.CacheSampled,
        Persist = stats.Owner.Config.Persist,
        Hits = (ulong)stats.Hits,
        Misses = (ulong)stats.Misses,
        Bypasses = (ulong)stats.Bypasses,
    };
}

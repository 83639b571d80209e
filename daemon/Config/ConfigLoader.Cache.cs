namespace UnifiedLlm.Daemon.Config;

internal static partial class ConfigLoader
{
    /// <summary>A model's or route's <c>cache</c> table (inline or [….cache]); null when absent (the cache is off).</summary>
    private static CacheConfig? BindCache(TomlSection owner)
    {
        var s = owner.Table("cache");
        if (s is null)
        {
            return null;
        }

        var config = new CacheConfig(
            TimeSpan.FromSeconds(s.Integer("ttl_seconds", CacheConfig.DefaultTtlSeconds, 1, 365L * 24 * 3600)),
            (int)s.Integer("max_entries", CacheConfig.DefaultMaxEntries, 1, 10_000_000),
            s.Integer("max_bytes", CacheConfig.DefaultMaxBytes, 1024, 1L << 40),
            s.Bool("shared", false),
            s.Bool("coalesce", false),
            s.Bool("cache_sampled", false),
            s.Bool("persist", false));
        s.RejectUnknownKeys();
        return config;
    }
}

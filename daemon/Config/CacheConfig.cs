namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// The exact-match response cache of one model or route (<c>cache = { … }</c>): how long an answer is served again, the
/// bounds of what is kept, and whether callers share entries, identical requests in flight wait for one upstream call,
/// sampled requests are cached, and entries survive a restart (SQLite).
/// </summary>
internal sealed record CacheConfig(
    TimeSpan Ttl,
    int MaxEntries,
    long MaxBytes,
    bool Shared,
    bool Coalesce,
    bool CacheSampled,
    bool Persist)
{
    public const long DefaultTtlSeconds = 3600;

    public const int DefaultMaxEntries = 1024;

    public const long DefaultMaxBytes = 64L << 20;
}

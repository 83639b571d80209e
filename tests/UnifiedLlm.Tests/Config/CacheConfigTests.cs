using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Tests.Config;

/// <summary>The cache table of models and routes: defaults, both TOML spellings, and located errors.</summary>
public sealed class CacheConfigTests
{
    [Fact]
    public void A_cache_table_inline_or_as_a_section_binds_with_defaults_for_what_it_leaves_out()
    {
        var config = ConfigLoader.Parse("""
            [models.tiny]
            backend = "llamacpp"
            source = "/models/tiny.gguf"
            cache = { ttl_seconds = 60, shared = true }

            [models.other]
            backend = "llamacpp"
            source = "/models/other.gguf"

            [routes.fast]
            targets = ["tiny"]

            [routes.fast.cache]
            max_entries = 5
            max_bytes = 4096
            coalesce = true
            cache_sampled = true
            persist = true
            """, "/etc/ullm.toml");

        Assert.Equal(new CacheConfig(TimeSpan.FromSeconds(60), CacheConfig.DefaultMaxEntries, CacheConfig.DefaultMaxBytes, true, false, false, false), config.Models["tiny"].Cache);
        Assert.Null(config.Models["other"].Cache);
        Assert.Equal(new CacheConfig(TimeSpan.FromSeconds(CacheConfig.DefaultTtlSeconds), 5, 4096, false, true, true, true), config.Routes["fast"].Cache);
    }

    [Fact]
    public void Bad_cache_values_are_reported_with_file_line_and_key()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""
            [models.tiny]
            backend = "llamacpp"
            source = "/models/tiny.gguf"
            cache = { ttl_seconds = 0, max_bytes = "big", colaesce = true }
            """, "/etc/ullm.toml"));

        var messages = e.Errors.Select(x => x.ToString()).ToList();
        Assert.Contains(messages, m => m.Contains("/etc/ullm.toml:4:", StringComparison.Ordinal) && m.Contains("models.tiny.cache.ttl_seconds", StringComparison.Ordinal) && m.Contains("0 is out of range", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("models.tiny.cache.max_bytes", StringComparison.Ordinal) && m.Contains("expected an integer", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("models.tiny.cache.colaesce", StringComparison.Ordinal) && m.Contains("did you mean 'coalesce'", StringComparison.Ordinal));
    }
}

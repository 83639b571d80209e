using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>Issue #21, item 20: anonymous callers are limited one by one, so one local client cannot starve the others.</summary>
public sealed class AnonymousRateLimitTests
{
    [Fact]
    public void Each_anonymous_peer_has_a_bucket_of_its_own()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var config = ConfigLoader.Parse("[server]\ndata_dir = \"/tmp/unused\"\n[security]\ndefault_requests_per_minute = 2\n", "limits.toml");
        using var holder = new ConfigHolder(config, new EventHub(), time);
        var limits = new RateLimits(holder, time);
        var storm = new ClientIdentity(null, "openai-unix uid 1000 pid 7", "uid 1000");
        var neighbour = new ClientIdentity(null, "openai-unix uid 1001 pid 8", "uid 1001");

        limits.Admit(storm);
        limits.Admit(storm);
        var refused = Assert.Throws<GatewayException>(() => limits.Admit(storm));
        limits.Admit(neighbour);
        limits.Admit(neighbour);

        Assert.Equal(429, refused.StatusCode);
        Assert.Contains("anonymous clients (uid 1000)", refused.Message, StringComparison.Ordinal);
        Assert.True(refused.RetryAfter > TimeSpan.Zero);
        Assert.Throws<GatewayException>(() => limits.Admit(neighbour));
    }

    [Fact]
    public void A_default_tokens_per_minute_limits_each_anonymous_peer()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var config = ConfigLoader.Parse("[server]\ndata_dir = \"/tmp/unused\"\n[security]\ndefault_tokens_per_minute = 100\n", "limits.toml");
        using var holder = new ConfigHolder(config, new EventHub(), time);
        var limits = new RateLimits(holder, time);
        var storm = new ClientIdentity(null, "openai-unix uid 1000 pid 7", "uid 1000");
        var neighbour = new ClientIdentity(null, "openai-unix uid 1001 pid 8", "uid 1001");

        limits.Admit(storm);
        limits.ChargeTokens(storm, 150);
        var refused = Assert.Throws<GatewayException>(() => limits.Admit(storm));
        limits.Admit(neighbour);
        time.Advance(TimeSpan.FromSeconds(31));
        limits.Admit(storm);

        Assert.Equal(429, refused.StatusCode);
        Assert.Contains("100 tokens per minute for anonymous clients (uid 1000)", refused.Message, StringComparison.Ordinal);
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(29), TimeSpan.FromSeconds(31));
    }
}

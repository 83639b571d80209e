using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>Issue #21, item 20: anonymous callers are limited one by one, so one local client cannot starve the others.</summary>
public sealed class AnonymousRateLimitTests
{
    private static readonly ClientIdentity Storm = new(null, "openai-unix uid 1000 pid 7", "uid 1000");
    private static readonly ClientIdentity Neighbour = new(null, "openai-unix uid 1001 pid 8", "uid 1001");

    [Fact]
    public void Each_anonymous_peer_has_a_bucket_of_its_own()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var holder = Holder("default_requests_per_minute = 2", time);
        var limits = new RateLimits(holder, time);

        limits.Admit(Storm);
        limits.Admit(Storm);
        var refused = Assert.Throws<GatewayException>(() => limits.Admit(Storm));
        limits.Admit(Neighbour);
        limits.Admit(Neighbour);

        Assert.Equal(429, refused.StatusCode);
        Assert.Contains("anonymous clients (uid 1000)", refused.Message, StringComparison.Ordinal);
        Assert.True(refused.RetryAfter > TimeSpan.Zero);
        Assert.Throws<GatewayException>(() => limits.Admit(Neighbour));
    }

    [Fact]
    public void A_default_tokens_per_minute_limits_each_anonymous_peer()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var holder = Holder("default_tokens_per_minute = 100", time);
        var limits = new RateLimits(holder, time);

        limits.Admit(Storm);
        limits.ChargeTokens(Storm, 150);
        var refused = Assert.Throws<GatewayException>(() => limits.Admit(Storm));
        limits.Admit(Neighbour);
        time.Advance(TimeSpan.FromSeconds(31));
        limits.Admit(Storm);

        Assert.Equal(429, refused.StatusCode);
        Assert.Contains("100 tokens per minute for anonymous clients (uid 1000)", refused.Message, StringComparison.Ordinal);
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(29), TimeSpan.FromSeconds(31));
    }

    /// <summary>A config whose [security] table has <paramref name="limit"/>, as ullmd would hold it.</summary>
    private static ConfigHolder Holder(string limit, TimeProvider time) =>
        new(ConfigLoader.Parse($"[server]\ndata_dir = \"/tmp/unused\"\n[security]\n{limit}\n", "limits.toml"), new EventHub(), time);
}

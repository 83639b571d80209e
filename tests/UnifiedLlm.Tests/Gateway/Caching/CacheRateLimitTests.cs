using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>
/// A cache hit against a key's limits: it counts as a request (rpm) but costs no tokens (tpm), while a miss is charged
/// the upstream's usage. The clock stands still, so no budget refills during a test.
/// </summary>
public sealed class CacheRateLimitTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 8, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Cache_hits_count_against_a_keys_requests_per_minute()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rig = await CacheRig.StartAsync("", time: new FakeTimeProvider(Start));
        var (_, key) = await rig.Host.Keys.CreateAsync("three-a-minute", [], 3, 0, null, ct);

        var miss = await rig.PostAsync(CacheRig.Chat(), key);
        await rig.StoredAsync(1);
        var hits = new[] { await rig.PostAsync(CacheRig.Chat(), key), await rig.PostAsync(CacheRig.Chat(), key) };
        var refused = await rig.PostAsync(CacheRig.Chat(), key);

        Assert.Equal((200, "miss"), (miss.Status, miss.Cache));
        Assert.All(hits, h => Assert.Equal((200, "hit"), (h.Status, h.Cache)));
        // Had hits been free of the request rate, this fourth request would have been a third hit.
        Assert.Equal(429, refused.Status);
        Assert.Equal("rate limit: 3 requests per minute for key 'three-a-minute'", Http.ErrorMessage(refused.Body));
        Assert.Equal(1, rig.UpstreamCalls);
    }

    [Fact]
    public async Task Cache_hits_cost_no_tokens_per_minute_while_misses_are_charged_their_usage()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rig = await CacheRig.StartAsync("", time: new FakeTimeProvider(Start));
        // Every upstream answer uses 5 + 2 tokens: a budget of 10 allows one miss and leaves 3.
        var (_, key) = await rig.Host.Keys.CreateAsync("ten-tokens", [], 0, 10, null, ct);

        var miss = await rig.PostAsync(CacheRig.Chat(), key);
        await rig.StoredAsync(1);
        var hits = new List<(int Status, JsonElement Body, string? Cache)>();
        for (var i = 0; i < 4; i++)
        {
            // Charged 7 tokens each, the second hit would already be refused.
            hits.Add(await rig.PostAsync(CacheRig.Chat(), key));
        }

        // The 3 tokens left admit one more miss, which overdraws the budget by 4.
        var secondMiss = await rig.PostAsync(CacheRig.Chat("something else"), key);
        var refused = await rig.PostAsync(CacheRig.Chat(), key);

        Assert.Equal((200, "miss"), (miss.Status, miss.Cache));
        Assert.All(hits, h => Assert.Equal((200, "hit"), (h.Status, h.Cache)));
        Assert.Equal((200, "miss"), (secondMiss.Status, secondMiss.Cache));
        Assert.Equal(429, refused.Status);
        Assert.Equal("rate limit: 10 tokens per minute for key 'ten-tokens'", Http.ErrorMessage(refused.Body));
        Assert.Equal(2, rig.UpstreamCalls);
    }
}

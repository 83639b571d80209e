using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>The exact-match response cache through the real gateway: hits, misses, bypasses, shapes, bounds, scopes, audit and metrics.</summary>
public sealed class ResponseCacheTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_repeated_request_is_answered_from_the_cache_as_json_or_as_a_stream_and_marked_in_header_audit_and_metrics()
    {
        await using var rig = await CacheRig.StartAsync("ttl_seconds = 600");

        var first = await rig.PostAsync(CacheRig.Chat());
        var second = await rig.PostAsync(CacheRig.Chat());
        var streamed = await rig.StreamAsync(CacheRig.Chat(stream: true, extra: ",\"temperature\":0,\"stream_options\":{\"include_usage\":true}"));
        var other = await rig.PostAsync(CacheRig.Chat("something else"));
        var sampled = await rig.PostAsync(CacheRig.Chat(extra: ""));
        var plain = await rig.PostAsync(CacheRig.Chat(model: "plain"));

        Assert.Equal((200, "miss", "answer 1"), (first.Status, first.Cache, CacheRig.Content(first.Body)));
        Assert.Equal((200, "hit", "answer 1"), (second.Status, second.Cache, CacheRig.Content(second.Body)));
        Assert.Equal(5, second.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal((200, "hit"), (streamed.Status, streamed.Cache));
        Assert.Equal("[DONE]", streamed.Events[^1]);
        var chunks = streamed.Events.SkipLast(1).Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal("answer 1", string.Concat(chunks.Select(c => c.GetProperty("choices").EnumerateArray()
            .Select(ch => ch.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : "").FirstOrDefault())));
        Assert.Equal("stop", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(2, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(("miss", "answer 2"), (other.Cache, CacheRig.Content(other.Body)));
        Assert.Equal(("bypass", "answer 3"), (sampled.Cache, CacheRig.Content(sampled.Body)));
        Assert.Equal((200, (string?)null), (plain.Status, plain.Cache));
        Assert.Equal(4, rig.UpstreamCalls);

        var metrics = await rig.MetricsAsync();
        Assert.Contains("ullm_cache_requests_total{model=\"tiny\",result=\"hit\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_cache_requests_total{model=\"tiny\",result=\"miss\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_cache_requests_total{model=\"tiny\",result=\"bypass\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_cache_entries{model=\"tiny\"} 2", metrics, StringComparison.Ordinal);
        Assert.Matches("ullm_cache_bytes\\{model=\"tiny\"\\} [1-9][0-9]+", metrics);
        Assert.DoesNotContain("model=\"plain\",result", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_requests_total{model=\"tiny\",target=\"cache\",status=\"200\"} 2", metrics, StringComparison.Ordinal);

        await rig.Host.StopAsync();
        var rows = await rig.Host.Audit.QueryAsync(new AuditQuery(null, null, null, 100), TestContext.Current.CancellationToken);
        var hits = rows.Where(r => r.Cache == "hit").ToList();
        Assert.Equal(2, hits.Count);
        Assert.All(hits, h =>
        {
            Assert.Equal(200, h.HttpStatus);
            Assert.Equal(0, h.TtftMs);
            Assert.Null(h.Target);
            Assert.Equal(["cache"], h.FallbackPath);
            Assert.Equal(5, h.PromptTokens);
        });
        Assert.Equal(2, rows.Count(r => r.Cache == "miss"));
        Assert.Single(rows, r => r.Cache == "bypass");
        Assert.Single(rows, r => r.Cache is null && r.ModelRequested == "plain");
    }

    [Fact]
    public async Task A_streamed_miss_is_assembled_into_the_entry_and_an_unfinished_stream_is_not_stored()
    {
        await using var rig = await CacheRig.StartAsync("");

        var streamed = await rig.StreamAsync(CacheRig.Chat(stream: true));
        var whole = await rig.PostAsync(CacheRig.Chat());
        rig.Upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("cut", role: true));
        };
        var cut = await rig.StreamAsync(CacheRig.Chat("cut", stream: true));
        var afterCut = await rig.StreamAsync(CacheRig.Chat("cut", stream: true));

        Assert.Equal("miss", streamed.Cache);
        // The client's stream had no usage chunk (it did not ask), yet the entry keeps the upstream's usage.
        Assert.DoesNotContain(streamed.Events, e => e.Contains("\"usage\"", StringComparison.Ordinal));
        Assert.Equal(("hit", "answer 1"), (whole.Cache, CacheRig.Content(whole.Body)));
        Assert.Equal(3, whole.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("stop", whole.Body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("miss", cut.Cache);
        Assert.DoesNotContain("[DONE]", cut.Events);
        Assert.Equal("miss", afterCut.Cache);
        Assert.Equal(3, rig.UpstreamCalls);
    }

    [Fact]
    public async Task Completions_replay_as_a_text_stream_and_embeddings_are_cached_without_a_temperature()
    {
        await using var rig = await CacheRig.StartAsync("");
        const string Prompt = """{"model":"tiny","prompt":"once upon","temperature":0,"max_tokens":6}""";
        const string Embed = """{"model":"tiny","input":"a sentence"}""";

        var miss = await rig.PostAsync(Prompt, path: "/v1/completions");
        var hit = await rig.StreamAsync(Prompt.Replace("}", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", StringComparison.Ordinal), path: "/v1/completions");
        var embedMiss = await rig.PostAsync(Embed, path: "/v1/embeddings");
        var embedHit = await rig.PostAsync(Embed, path: "/v1/embeddings");

        Assert.Equal("miss", miss.Cache);
        Assert.Equal("hit", hit.Cache);
        var chunks = hit.Events.SkipLast(1).Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Equal("answer 1", string.Concat(chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("text").GetString())));
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(10, chunks[^1].GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.Equal(("miss", "hit"), (embedMiss.Cache, embedHit.Cache));
        Assert.Equal(embedMiss.Body.GetRawText(), embedHit.Body.GetRawText());
        Assert.Equal(2, rig.UpstreamCalls);
    }

    [Fact]
    public async Task An_entry_expires_after_its_ttl_on_the_clock()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
        await using var rig = await CacheRig.StartAsync("ttl_seconds = 60", time: time);

        var miss = await rig.PostAsync(CacheRig.Chat());
        await rig.StoredAsync(1);
        time.Advance(TimeSpan.FromSeconds(59));
        var hit = await rig.PostAsync(CacheRig.Chat());
        time.Advance(TimeSpan.FromSeconds(1));
        var expired = await rig.PostAsync(CacheRig.Chat());

        Assert.Equal(("miss", "hit", "miss"), (miss.Cache, hit.Cache, expired.Cache));
        Assert.Equal("answer 2", CacheRig.Content(expired.Body));
        Assert.Equal(2, rig.UpstreamCalls);
    }

    [Fact]
    public async Task The_least_recently_used_entries_are_evicted_to_stay_within_max_bytes_and_max_entries()
    {
        // Each answer is about 600 bytes of JSON, so 1,500 bytes hold two.
        await using var rig = await CacheRig.StartAsync("max_bytes = 1500");
        rig.Padding = 400;

        await rig.PostAsync(CacheRig.Chat("a"));
        await rig.PostAsync(CacheRig.Chat("b"));
        var aAgain = await rig.PostAsync(CacheRig.Chat("a"));
        await rig.PostAsync(CacheRig.Chat("c"));
        var bAfter = await rig.PostAsync(CacheRig.Chat("b"));
        var metrics = await rig.MetricsAsync();

        Assert.Equal("hit", aAgain.Cache);
        // "b" was the least recently used when "c" came, so it went.
        Assert.Equal("miss", bAfter.Cache);
        var bytes = long.Parse(System.Text.RegularExpressions.Regex.Match(metrics, "ullm_cache_bytes\\{model=\"tiny\"\\} ([0-9]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(bytes, 1000, 1500);
        Assert.Contains("ullm_cache_entries{model=\"tiny\"} 2", metrics, StringComparison.Ordinal);

        await using var counted = await CacheRig.StartAsync("max_entries = 1");
        await counted.PostAsync(CacheRig.Chat("a"));
        await counted.PostAsync(CacheRig.Chat("b"));
        Assert.Equal("miss", (await counted.PostAsync(CacheRig.Chat("a"))).Cache);
        Assert.Equal("hit", (await counted.PostAsync(CacheRig.Chat("a"))).Cache);
    }

    [Fact]
    public async Task Two_keys_do_not_see_each_others_entries_unless_the_cache_is_shared()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rig = await CacheRig.StartAsync("", "[models.plain.cache]\nshared = true\n");
        var (_, alice) = await rig.Host.Keys.CreateAsync("alice", [], 0, 0, null, ct);
        var (_, bob) = await rig.Host.Keys.CreateAsync("bob", [], 0, 0, null, ct);

        var aliceMiss = await rig.PostAsync(CacheRig.Chat(), alice);
        var bobMiss = await rig.PostAsync(CacheRig.Chat(), bob);
        var anonymousMiss = await rig.PostAsync(CacheRig.Chat());
        var aliceHit = await rig.PostAsync(CacheRig.Chat(), alice);
        var bobHit = await rig.PostAsync(CacheRig.Chat(), bob);
        var sharedMiss = await rig.PostAsync(CacheRig.Chat(model: "plain"), alice);
        var sharedHit = await rig.PostAsync(CacheRig.Chat(model: "plain"), bob);

        Assert.Equal(("miss", "miss", "miss"), (aliceMiss.Cache, bobMiss.Cache, anonymousMiss.Cache));
        Assert.Equal(("hit", "answer 1"), (aliceHit.Cache, CacheRig.Content(aliceHit.Body)));
        Assert.Equal(("hit", "answer 2"), (bobHit.Cache, CacheRig.Content(bobHit.Body)));
        Assert.Equal(("miss", "hit"), (sharedMiss.Cache, sharedHit.Cache));
        Assert.Equal(CacheRig.Content(sharedMiss.Body), CacheRig.Content(sharedHit.Body));
        Assert.Equal(4, rig.UpstreamCalls);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public async Task Two_identical_requests_in_flight_make_one_upstream_call_only_when_coalescing(bool coalesce, int calls)
    {
        await using var rig = await CacheRig.StartAsync($"coalesce = {(coalesce ? "true" : "false")}");
        rig.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = rig.Host.Services.GetRequiredService<GatewayMetrics>().InFlight;

        var first = rig.PostAsync(CacheRig.Chat());
        await CacheRig.UntilAsync(() => rig.UpstreamCalls == 1, Wait);
        var second = rig.PostAsync(CacheRig.Chat());
        // Both are being served: the second waits on the first's flight, or is upstream too.
        await CacheRig.UntilAsync(() => inFlight.Value == 2 && rig.UpstreamCalls == calls, Wait);
        rig.Gate.SetResult();
        var (a, b) = (await first, await second);

        Assert.Equal((200, 200), (a.Status, b.Status));
        Assert.Equal(calls, rig.UpstreamCalls);
        Assert.Equal("miss", a.Cache);
        Assert.Equal(coalesce ? "hit" : "miss", b.Cache);
        // Coalesced, the second got the first's answer; otherwise each got an answer of its own.
        Assert.Equal(coalesce, CacheRig.Content(a.Body) == CacheRig.Content(b.Body));
    }

    [Fact]
    public async Task When_the_first_of_two_coalesced_requests_fails_nothing_is_cached_and_the_second_goes_upstream_itself()
    {
        await using var rig = await CacheRig.StartAsync("coalesce = true");
        rig.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        rig.FailNext = true;
        var inFlight = rig.Host.Services.GetRequiredService<GatewayMetrics>().InFlight;

        var first = rig.PostAsync(CacheRig.Chat());
        await CacheRig.UntilAsync(() => rig.UpstreamCalls == 1, Wait);
        var second = rig.PostAsync(CacheRig.Chat());
        await CacheRig.UntilAsync(() => inFlight.Value == 2, Wait);
        Assert.Equal(1, rig.UpstreamCalls);
        rig.Gate.SetResult();
        var (a, b) = (await first, await second);

        Assert.NotEqual(200, a.Status);
        Assert.Equal((200, "miss", "answer 1"), (b.Status, b.Cache, CacheRig.Content(b.Body)));
        Assert.Equal(2, rig.UpstreamCalls);
        Assert.Equal("hit", (await rig.PostAsync(CacheRig.Chat())).Cache);
    }

    [Fact]
    public async Task An_anthropic_messages_request_is_cached_and_replayed_in_anthropic_shape()
    {
        await using var rig = await CacheRig.StartAsync("");
        const string Message = """{"model":"tiny","max_tokens":16,"temperature":0,"messages":[{"role":"user","content":"hi"}]}""";

        var miss = await rig.PostAsync(Message, path: "/v1/messages");
        var hit = await rig.PostAsync(Message, path: "/v1/messages");
        var streamed = await rig.StreamAsync(Message.Replace("}]}", "}],\"stream\":true}", StringComparison.Ordinal), path: "/v1/messages");

        Assert.Equal((200, "miss"), (miss.Status, miss.Cache));
        Assert.Equal((200, "hit"), (hit.Status, hit.Cache));
        Assert.Equal("answer 1", hit.Body.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal("hit", streamed.Cache);
        var deltas = streamed.Events.Select(e => JsonDocument.Parse(e).RootElement)
            .Where(e => e.GetProperty("type").GetString() == "content_block_delta")
            .Select(e => e.GetProperty("delta").GetProperty("text").GetString());
        Assert.Equal("answer 1", string.Concat(deltas));
        Assert.Contains(streamed.Events, e => e.Contains("message_stop", StringComparison.Ordinal));
        Assert.Equal(1, rig.UpstreamCalls);
    }
}

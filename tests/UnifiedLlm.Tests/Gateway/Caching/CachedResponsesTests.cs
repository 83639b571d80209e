using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>A cache hit on /v1/responses still makes a response of its own: stored, retrievable, and a conversation's next link.</summary>
public sealed class CachedResponsesTests
{
    [Fact(Timeout = 120_000)]
    public async Task A_cache_hit_with_store_true_creates_a_new_stored_response_that_a_conversation_can_continue_from()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rig = await CacheRig.StartAsync("");
        var (_, key) = await rig.Host.Keys.CreateAsync("sdk", [], 0, 0, null, ct);
        var v1 = new Uri(rig.Host.TcpAddress, "v1");
        JsonObject Create(bool stream, string input = "tell me", string? previous = null) => new()
        {
            ["model"] = "tiny",
            ["input"] = input,
            ["temperature"] = 0,
            ["store"] = true,
            ["stream"] = stream,
            ["previous_response_id"] = previous,
        };

        var miss = await OpenAiNodeClient.CallAsync(v1, "responses", Create(stream: false), key);
        var hit = await OpenAiNodeClient.CallAsync(v1, "responses", Create(stream: false), key);
        var streamedHit = await OpenAiNodeClient.CallAsync(v1, "responses", Create(stream: true), key);

        Assert.True(miss.Ok, miss.ToString());
        Assert.True(hit.Ok, hit.ToString());
        Assert.True(streamedHit.Ok, streamedHit.ToString());
        Assert.Equal(("miss", "hit", "hit"), (miss.Headers["x-ullm-cache"]?.GetValue<string>(), hit.Headers["x-ullm-cache"]?.GetValue<string>(), streamedHit.Headers["x-ullm-cache"]?.GetValue<string>()));
        Assert.Equal(1, rig.UpstreamCalls);
        var completed = streamedHit.Events[^1]!;
        Assert.Equal("response.completed", completed["type"]!.GetValue<string>());
        var ids = new[] { miss.Result!["id"]!.GetValue<string>(), hit.Result!["id"]!.GetValue<string>(), completed["response"]!["id"]!.GetValue<string>() };
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(new[] { hit.Result["output_text"]!.GetValue<string>(), completed["response"]!["output"]![0]!["content"]![0]!["text"]!.GetValue<string>() }, t => Assert.Equal("answer 1", t));

        foreach (var id in ids[1..])
        {
            var retrieved = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: id, apiKey: key);
            Assert.True(retrieved.Ok, retrieved.ToString());
            Assert.Equal(("answer 1", true), (retrieved.Result!["output"]![0]!["content"]![0]!["text"]!.GetValue<string>(), retrieved.Result["store"]!.GetValue<bool>()));
        }

        var next = await OpenAiNodeClient.CallAsync(v1, "responses", Create(stream: false, "and then?", ids[2]), key);
        Assert.True(next.Ok, next.ToString());
        Assert.Equal(ids[2], next.Result!["previous_response_id"]!.GetValue<string>());
        Assert.Equal(
            """[{"role":"user","content":"tell me"},{"role":"assistant","content":"answer 1"},{"role":"user","content":"and then?"}]""",
            rig.Upstream.Requests.Last().Body["messages"]!.ToJsonString());
    }
}

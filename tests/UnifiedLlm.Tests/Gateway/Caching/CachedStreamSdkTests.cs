using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>The official openai npm client parses a cached answer replayed as a stream, and sees the cache header.</summary>
public sealed class CachedStreamSdkTests
{
    [Fact]
    public async Task The_sdk_parses_a_cache_hit_replayed_as_a_stream_with_usage_and_sees_the_header()
    {
        await using var rig = await CacheRig.StartAsync("");
        var (_, key) = await rig.Host.Keys.CreateAsync("sdk", [], 0, 0, null, TestContext.Current.CancellationToken);
        var v1 = new Uri(rig.Host.TcpAddress, "v1");
        JsonObject Request(bool stream)
        {
            var request = new JsonObject
            {
                ["model"] = "tiny",
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "tell me" }),
                ["temperature"] = 0,
            };
            if (stream)
            {
                request["stream"] = true;
                request["stream_options"] = new JsonObject { ["include_usage"] = true };
            }

            return request;
        }

        // A long answer, so the replay sends it in several pieces.
        rig.Padding = 150;
        var miss = await OpenAiNodeClient.CallAsync(v1, "chat", Request(stream: false), key);
        var hit = await OpenAiNodeClient.CallAsync(v1, "chat", Request(stream: true), key);

        Assert.True(miss.Ok, miss.ToString());
        Assert.Equal("miss", miss.Headers["x-ullm-cache"]?.GetValue<string>());
        Assert.True(hit.Ok, hit.ToString());
        Assert.Equal("hit", hit.Headers["x-ullm-cache"]?.GetValue<string>());
        var expected = miss.Result!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        var pieces = hit.Events.Select(e => e!["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>()).Where(p => !string.IsNullOrEmpty(p)).ToList();
        Assert.True(pieces.Count >= 3, $"{pieces.Count} pieces");
        Assert.Equal(expected, string.Concat(pieces));
        Assert.Equal("assistant", hit.Events[0]!["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        Assert.Equal("stop", hit.Events[^2]!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(7, hit.Events[^1]!["usage"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal(1, rig.UpstreamCalls);
    }
}

using System.Text.Json;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>The proxy path against a fake OpenAI-compatible upstream (a real HTTP server): bodies, streams, disconnects.</summary>
public sealed class StreamingProxyTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Non_streaming_chat_is_forwarded_with_the_upstream_model_and_answered_with_a_request_id()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        var (status, body, response) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal(200, status);
        Assert.Equal("hello", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.StartsWith("req_", response.Headers.GetValues("x-request-id").Single(), StringComparison.Ordinal);
        var forwarded = Assert.Single(upstream.Requests);
        Assert.Equal("/v1/chat/completions", forwarded.Path);
        Assert.Equal("tiny.gguf", forwarded.Body["model"]!.GetValue<string>());
        Assert.Equal(0, models.HeldLeases);
    }

    [Fact]
    public async Task A_whole_body_sent_chunked_without_a_length_is_relayed_byte_for_byte()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var text = string.Concat(Enumerable.Range(0, 9000).Select(i => $"{i} ünïcödé "));
        var sent = JsonSerializer.SerializeToUtf8Bytes(FakeUpstream.Completion(text));
        upstream.Handler = async (c, _) =>
        {
            c.Response.ContentType = "application/json";
            for (var at = 0; at < sent.Length; at += 7000)
            {
                await c.Response.Body.WriteAsync(sent.AsMemory(at, Math.Min(7000, sent.Length - at)));
                await c.Response.Body.FlushAsync();
            }
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        using var response = await host.Unix.SendAsync(Http.Post("/v1/chat/completions", Http.Chat("tiny")), TestContext.Current.CancellationToken);
        var received = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.True(sent.Length > 128 * 1024, $"the body ({sent.Length} bytes) must outgrow the first buffers");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Stream_events_reach_the_client_before_the_upstream_sends_the_rest()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var firstSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, role: true));
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("one"));
            // The rest is sent only once the client has the first content: a buffering proxy would deadlock here.
            await firstSeen.Task.WaitAsync(Wait, c.RequestAborted);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(" two"));
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, "stop"));
            await FakeUpstream.SendAsync(c, FakeUpstream.UsageChunk(7, 2));
            await FakeUpstream.SendRawAsync(c, "data: [DONE]\n\n");
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var ct = TestContext.Current.CancellationToken;

        using var request = Http.Post("/v1/chat/completions", Http.Chat("tiny", stream: true));
        using var response = await host.Unix.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct));
        var role = await sse.NextAsync(ct);
        var first = await sse.NextAsync(ct);
        Assert.Equal("assistant", Delta(role!.Value.Data).GetProperty("role").GetString());
        Assert.Equal("one", Delta(first!.Value.Data).GetProperty("content").GetString());
        firstSeen.SetResult();
        var rest = await sse.RestAsync(ct);

        Assert.Equal(" two", Delta(rest[0].Data).GetProperty("content").GetString());
        Assert.Equal("stop", JsonDocument.Parse(rest[1].Data).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        // The client did not ask for usage: the chunk the gateway asked for itself is not passed on.
        Assert.Equal("[DONE]", rest[^1].Data);
        Assert.Equal(3, rest.Count);
        Assert.True(upstream.Requests.Single().Body["stream_options"]!["include_usage"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Events_that_came_in_one_upstream_write_reach_the_client_before_the_upstream_sends_more()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var lastSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, role: true));
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("one"));
            // Two contents and the usage the client did not ask for, in one write: the relay writes the contents
            // together and must flush them though the read's last event is not passed on.
            var together = string.Concat(new[] { FakeUpstream.Chunk(" two"), FakeUpstream.Chunk(" three"), FakeUpstream.UsageChunk(7, 3) }
                .Select(chunk => $"data: {FakeUpstream.Json(chunk)}\n\n"));
            await FakeUpstream.SendRawAsync(c, together);
            await lastSeen.Task.WaitAsync(Wait, c.RequestAborted);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, "stop"));
            await FakeUpstream.SendRawAsync(c, "data: [DONE]\n\n");
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var ct = TestContext.Current.CancellationToken;

        using var request = Http.Post("/v1/chat/completions", Http.Chat("tiny", stream: true));
        using var response = await host.Unix.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct));
        var contents = new List<string?>();
        for (var i = 0; i < 4; i++)
        {
            contents.Add(Delta((await sse.NextAsync(ct))!.Value.Data).TryGetProperty("content", out var content) ? content.GetString() : null);
        }

        lastSeen.SetResult();
        var rest = await sse.RestAsync(ct);

        Assert.Equal(["", "one", " two", " three"], contents);
        Assert.Equal("stop", JsonDocument.Parse(rest[0].Data).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("[DONE]", rest[^1].Data);
        Assert.Equal(2, rest.Count);
    }

    [Fact]
    public async Task Usage_chunk_follows_the_spec_when_asked_and_is_estimated_when_the_upstream_sends_none()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        upstream.Handler = (c, _) => FakeUpstream.StreamAsync(c, "a", "b");
        var withUsage = await StreamAsync(host.Unix, Http.Chat("tiny", stream: true, extra: ""","stream_options":{"include_usage":true}"""));
        var usage = JsonDocument.Parse(withUsage[^2].Data).RootElement;
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("abcdefgh"));
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, "stop"));
            await FakeUpstream.SendRawAsync(c, "data: [DONE]\n\n");
        };
        var estimated = await StreamAsync(host.Unix, Http.Chat("tiny", stream: true, extra: ""","stream_options":{"include_usage":true}"""));
        var synthesized = JsonDocument.Parse(estimated[^2].Data).RootElement.GetProperty("usage");
        Assert.Equal(2, synthesized.GetProperty("completion_tokens").GetInt32());
        Assert.True(synthesized.GetProperty("estimated").GetBoolean());
        Assert.Equal("[DONE]", estimated[^1].Data);
    }

    [Fact]
    public async Task Client_disconnect_cancels_the_upstream_request_at_once_and_releases_the_lease()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("first"));
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var ct = TestContext.Current.CancellationToken;

        using (var request = Http.Post("/v1/chat/completions", Http.Chat("tiny", stream: true)))
        {
            var response = await host.Unix.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            using var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct));
            Assert.Equal("first", Delta((await sse.NextAsync(ct))!.Value.Data).GetProperty("content").GetString());
            response.Dispose();
        }

        await upstream.Aborted.Task.WaitAsync(Wait, ct);
        await host.StopAsync();
        Assert.Equal(0, models.HeldLeases);
        var row = Assert.Single(await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), ct));
        Assert.Equal("client_closed", row.Outcome);
    }

    [Fact]
    public async Task Completions_and_embeddings_are_proxied_to_their_paths()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => FakeUpstream.WriteJsonAsync(c, c.Request.Path == "/v1/embeddings"
            ? new System.Text.Json.Nodes.JsonObject
            {
                ["object"] = "list",
                ["data"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["object"] = "embedding", ["index"] = 0, ["embedding"] = new System.Text.Json.Nodes.JsonArray(0.5, 0.25) }),
                ["usage"] = new System.Text.Json.Nodes.JsonObject { ["prompt_tokens"] = 3, ["total_tokens"] = 3 },
            }
            : new System.Text.Json.Nodes.JsonObject
            {
                ["object"] = "text_completion",
                ["choices"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["index"] = 0, ["text"] = "done", ["finish_reason"] = "stop" }),
            });
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        var (s1, completion, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/completions", """{"model":"tiny","prompt":"say"}"""));
        var (s2, embedding, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/embeddings", """{"model":"tiny","input":"x"}"""));

        Assert.Equal((200, 200), (s1, s2));
        Assert.Equal("done", completion.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(0.25, embedding.GetProperty("data")[0].GetProperty("embedding")[1].GetDouble());
        Assert.Equal(["/v1/completions", "/v1/embeddings"], upstream.Requests.Select(r => r.Path));
    }

    internal static async Task<List<(string? Event, string Data)>> StreamAsync(HttpClient client, string body, string path = "/v1/chat/completions")
    {
        var ct = TestContext.Current.CancellationToken;
        using var request = Http.Post(path, body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal(200, (int)response.StatusCode);
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct));
        return await sse.RestAsync(ct);
    }

    internal static JsonElement Delta(string data) => JsonDocument.Parse(data).RootElement.GetProperty("choices")[0].GetProperty("delta");
}

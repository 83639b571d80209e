using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Fallback under faulty upstreams: before the first byte the next target serves; after it, an error event ends the stream.</summary>
public sealed class FallbackTests
{
    private const string Chain = """
        # Callers without a key (the unix socket's here) reach providers only with this (#21).
        [security]
        anonymous_providers = true

        [providers.backup]
        kind = "openai"
        base_url = "BACKUP/v1"
        models = ["gpt-x"]

        [router]
        first_token_timeout_seconds = 1
        idle_timeout_seconds = 1

        [router.fallback]
        tiny = ["backup/gpt-x"]
        """;

    public static TheoryData<string> Faults => ["500", "429", "stall", "closed-before-content", "malformed", "refused", "error-event"];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_failure_before_the_first_byte_falls_back_for_streaming_and_non_streaming(string fault)
    {
        await using var failing = await FakeUpstream.StartAsync();
        failing.Handler = Fault(fault);
        await using var backup = await FakeUpstream.StartAsync();
        backup.Handler = (c, body) => body["stream"]?.GetValue<bool>() == true ? FakeUpstream.StreamAsync(c, "from", " backup") : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("from backup"));
        using var refusing = new RefusingPort();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", fault == "refused" ? refusing.Uri : failing.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(Chain.Replace("BACKUP", backup.BaseAddress.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal), models);

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        Assert.Equal(200, status);
        Assert.Equal("from backup", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());

        var events = await StreamingProxyTests.StreamAsync(host.Unix, Http.Chat("tiny", stream: true));
        Assert.Equal("from backup", string.Concat(events.Where(e => e.Data != "[DONE]").Select(e => StreamingProxyTests.Delta(e.Data).TryGetProperty("content", out var c) ? c.GetString() : "")));
        Assert.Equal("[DONE]", events[^1].Data);
        Assert.Equal("gpt-x", backup.Requests.Last().Body["model"]!.GetValue<string>());
        using (var metrics = await host.Unix.GetAsync(new Uri("/metrics", UriKind.Relative), TestContext.Current.CancellationToken))
        {
            // The target that failed before the first byte, once for each of the two requests.
            Assert.Contains("ullm_fallbacks_total{target=\"tiny\"} 2", await metrics.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }

        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken);
        Assert.All(rows, r => Assert.Equal(("ok", "backup/gpt-x", 200), (r.Outcome, r.Target, r.HttpStatus)));
        Assert.All(rows, r => Assert.Equal(2, r.FallbackPath.Count));
        Assert.All(rows, r => Assert.StartsWith("tiny (", r.FallbackPath[0], StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("drop")]
    [InlineData("stall")]
    [InlineData("malformed")]
    [InlineData("error-event")]
    public async Task A_failure_after_content_ends_the_stream_with_an_error_event_and_no_done(string fault)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var clientHasPartial = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("partial"));
            await clientHasPartial.Task.WaitAsync(TimeSpan.FromSeconds(30), c.RequestAborted);
            switch (fault)
            {
                case "drop":
                    c.Abort();
                    return;
                case "stall":
                    await Task.Delay(Timeout.Infinite, c.RequestAborted);
                    return;
                case "malformed":
                    await FakeUpstream.SendRawAsync(c, "data: {not json\n\n");
                    return;
                default:
                    await FakeUpstream.SendAsync(c, new JsonObject { ["error"] = new JsonObject { ["message"] = "backend crashed" } });
                    return;
            }
        };
        await using var backup = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(Chain.Replace("BACKUP", backup.BaseAddress.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal), models);

        var ct = TestContext.Current.CancellationToken;
        using var request = Http.Post("/v1/chat/completions", Http.Chat("tiny", stream: true));
        using var response = await host.Unix.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct));
        var first = await sse.NextAsync(ct);
        clientHasPartial.SetResult();
        var events = await sse.RestAsync(ct);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("partial", StreamingProxyTests.Delta(first!.Value.Data).GetProperty("content").GetString());
        var error = JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("error");
        Assert.Equal("stream_failed", error.GetProperty("code").GetString());
        Assert.DoesNotContain(events, e => e.Data == "[DONE]");
        Assert.Empty(backup.Requests);
        await host.StopAsync();
        var row = Assert.Single(await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken));
        Assert.Equal("stream_failed", row.Outcome);
        Assert.NotEqual(200, row.HttpStatus);
        Assert.Contains("tiny", row.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_every_target_fails_the_client_gets_the_last_failure_with_the_path_tried()
    {
        await using var a = await FakeUpstream.StartAsync();
        a.Handler = Fault("500");
        await using var b = await FakeUpstream.StartAsync();
        b.Handler = Fault("429");
        var models = new StaticModelEndpoints();
        models.Serve("tiny", a.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(Chain.Replace("BACKUP", b.BaseAddress.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal), models);

        var (status, body, response) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal(429, status);
        Assert.Equal("7", response.Headers.GetValues("Retry-After").Single());
        Assert.Contains("tried tiny (502), backup/gpt-x (429)", Http.ErrorMessage(body), StringComparison.Ordinal);
        Assert.Equal("rate_limit_error", body.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Upstream_errors_map_to_502_and_504_and_client_errors_are_not_retried()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("[router]\nfirst_token_timeout_seconds = 1\n", models);

        upstream.Handler = Fault("500");
        var (s502, b502, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        upstream.Handler = Fault("stall");
        var (s504, b504, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        upstream.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, new JsonObject { ["error"] = new JsonObject { ["message"] = "context too long" } }, 400);
        var (s400, b400, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal((502, "upstream_error"), (s502, b502.GetProperty("error").GetProperty("type").GetString()));
        Assert.Contains("overloaded", Http.ErrorMessage(b502), StringComparison.Ordinal);
        Assert.Equal(504, s504);
        Assert.Contains("first_token_timeout_seconds", Http.ErrorMessage(b504), StringComparison.Ordinal);
        Assert.Equal(400, s400);
        Assert.Contains("context too long", Http.ErrorMessage(b400), StringComparison.Ordinal);
    }

    internal static Func<Microsoft.AspNetCore.Http.HttpContext, JsonObject, Task> Fault(string fault) => fault switch
    {
        "500" => (c, _) => FakeUpstream.WriteJsonAsync(c, new JsonObject { ["error"] = new JsonObject { ["message"] = "overloaded" } }, 500),
        "429" => (c, _) =>
        {
            c.Response.Headers.RetryAfter = "7";
            return FakeUpstream.WriteJsonAsync(c, new JsonObject { ["error"] = new JsonObject { ["message"] = "slow down" } }, 429);
        }
        ,
        "stall" => (c, _) => Task.Delay(Timeout.Infinite, c.RequestAborted),
        "closed-before-content" => async (c, body) =>
        {
            if (body["stream"]?.GetValue<bool>() != true)
            {
                c.Abort();
                return;
            }

            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, role: true));
        }
        ,
        "malformed" => async (c, body) =>
        {
            if (body["stream"]?.GetValue<bool>() != true)
            {
                await FakeUpstream.SendRawAsync(c, "{\"choices\": [");
                return;
            }

            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendRawAsync(c, "data: {\"choices\": [\n\n");
        }
        ,
        "error-event" => async (c, body) =>
        {
            var error = new JsonObject { ["error"] = new JsonObject { ["message"] = "out of memory" } };
            if (body["stream"]?.GetValue<bool>() != true)
            {
                await FakeUpstream.WriteJsonAsync(c, error);
                return;
            }

            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, error);
        }
        ,
        _ => (c, _) =>
        {
            c.Abort();
            return Task.CompletedTask;
        }
        ,
    };

}

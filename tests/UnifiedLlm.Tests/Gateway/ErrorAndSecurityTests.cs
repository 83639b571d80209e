using System.Text.Json;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>OpenAI error objects with the right status, keys on both listeners, per-key model lists and rate limits, audit rows.</summary>
public sealed class ErrorAndSecurityTests
{
    [Theory]
    [InlineData("{not json", 400, null, "not valid JSON")]
    [InlineData("[1]", 400, null, "must be a JSON object")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", 400, "model", "'model': is required")]
    [InlineData("""{"model":7,"messages":[{"role":"user","content":"x"}]}""", 400, "model", "non-empty string")]
    [InlineData("""{"model":"tiny"}""", 400, "messages", "'messages': is required")]
    [InlineData("""{"model":"tiny","messages":[{"content":"x"}]}""", 400, "messages", "non-empty array")]
    [InlineData("""{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":"yes"}""", 400, "stream", "true or false")]
    [InlineData("""{"model":"tinny","messages":[{"role":"user","content":"x"}]}""", 404, "model", "did you mean 'tiny'")]
    public async Task Bad_requests_get_an_error_object_naming_the_field(string body, int status, string? param, string message)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        var (actual, json, response) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", body));

        Assert.Equal(status, actual);
        var error = json.GetProperty("error");
        Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.True(response.Headers.Contains("x-request-id"));
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Bodies_over_the_limit_get_413_whether_declared_or_streamed()
    {
        var models = new StaticModelEndpoints();
        await using var host = await GatewayHost.StartAsync("max_request_body_bytes = 2048\n", models);
        var big = Http.Chat("tiny").Replace("hi", new string('x', 4096), StringComparison.Ordinal);

        // Expect: 100-continue, as clients do for large bodies: the early 413 then does not race the upload.
        var declared = Http.Post("/v1/chat/completions", big);
        declared.Headers.ExpectContinue = true;
        var (status, body, _) = await Http.SendAsync(host.Unix, declared);
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(big))),
        };
        chunked.Headers.TransferEncodingChunked = true;
        chunked.Headers.ExpectContinue = true;
        var (chunkedStatus, _, _) = await Http.SendAsync(host.Unix, chunked);

        Assert.Equal((413, 413), (status, chunkedStatus));
        Assert.Contains("max_request_body_bytes", Http.ErrorMessage(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Local_models_the_scheduler_cannot_serve_answer_its_status_and_reason()
    {
        var models = new StaticModelEndpoints();
        models.Fail("busy", LeaseFailureKind.QueueFull, "queue full", TimeSpan.FromSeconds(3));
        models.Fail("big", LeaseFailureKind.DoesNotFit, "needs 80 GiB, 24 GiB free on GPU 0");
        await using var host = await GatewayHost.StartAsync("", models);

        var (s429, _, r429) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("busy")));
        var (s503, b503, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("big")));

        Assert.Equal(429, s429);
        Assert.Equal("3", r429.Headers.GetValues("Retry-After").Single());
        Assert.Equal(503, s503);
        Assert.Contains("needs 80 GiB, 24 GiB free on GPU 0", Http.ErrorMessage(b503), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tcp_requires_a_valid_key_and_the_unix_socket_follows_its_setting()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("app", [], 0, 0, null, TestContext.Current.CancellationToken);

        var (none, noneBody, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        var (bad, _, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), "ullm-wrong"));
        var (good, _, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));
        var (anonymousUnix, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));

        Assert.Equal((401, 401, 200, 200), (none, bad, good, anonymousUnix));
        Assert.Equal("authentication_error", noneBody.GetProperty("error").GetProperty("type").GetString());

        await using var strict = await GatewayHost.StartAsync("[security]\nallow_anonymous_unix = false\n", models);
        var (strictUnix, _, _) = await Http.SendAsync(strict.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        Assert.Equal(401, strictUnix);
    }

    [Fact]
    public async Task Keys_are_limited_to_their_models_and_to_their_requests_per_minute()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        models.Serve("other", upstream.BaseAddress, "other.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("limited", ["tiny"], 2, 0, null, TestContext.Current.CancellationToken);

        var (forbidden, forbiddenBody, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("other"), secret));
        var (second, _, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));
        var (third, thirdBody, thirdResponse) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));

        Assert.Equal(403, forbidden);
        Assert.Contains("may not use model 'other'", Http.ErrorMessage(forbiddenBody), StringComparison.Ordinal);
        Assert.Equal(200, second);
        Assert.Equal(429, third);
        Assert.Contains("2 requests per minute for key 'limited'", Http.ErrorMessage(thirdBody), StringComparison.Ordinal);
        var retryAfter = int.Parse(thirdResponse.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 30);
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task Tokens_per_minute_are_charged_from_usage_and_block_the_next_request()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("long answer", prompt: 40, completion: 70));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("tokens", [], 0, 100, null, TestContext.Current.CancellationToken);

        var (first, _, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));
        var (second, body, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));

        Assert.Equal((200, 429), (first, second));
        Assert.Contains("100 tokens per minute", Http.ErrorMessage(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_request_leaves_one_audit_row_with_key_target_status_tokens_and_timings()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("ok", prompt: 11, completion: 3));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (key, secret) = await host.Keys.CreateAsync("audited", [], 0, 0, null, TestContext.Current.CancellationToken);

        var (_, _, okResponse) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));
        await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("nope"), secret));
        await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        await host.StopAsync();

        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken);
        Assert.Equal(3, rows.Count);
        var ok = rows.Single(r => r.RequestId == okResponse.Headers.GetValues("x-request-id").Single());
        Assert.Equal((key.Id, "tiny", "tiny", 200, "ok", 11L, 3L, false), (ok.KeyId, ok.ModelRequested, ok.Target, ok.HttpStatus, ok.Outcome, ok.PromptTokens, ok.CompletionTokens, ok.TokensEstimated));
        Assert.NotNull(ok.TtftMs);
        Assert.StartsWith("127.0.0.1:", ok.Client, StringComparison.Ordinal);
        Assert.Contains(rows, r => r.HttpStatus == 404 && r.ModelRequested == "nope" && r.Error!.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.HttpStatus == 401 && r.KeyId is null);
    }

    [Fact]
    public async Task Models_lists_local_models_aliases_provider_models_and_routes_with_ullm_fields()
    {
        var models = new StaticModelEndpoints();
        models.Serve("tiny", new Uri("http://127.0.0.1:1/"), "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("""
            [providers.cloud]
            kind = "anthropic"
            base_url = "http://127.0.0.1:1/v1"
            models = ["claude-x"]

            [routes.smart]
            strategy = "cost-optimized"
            targets = ["tiny", "cloud/claude-x"]
            """, models);

        var (status, body, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, "/v1/models"));

        Assert.Equal(200, status);
        Assert.Equal("list", body.GetProperty("object").GetString());
        var byId = body.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("ullm"));
        Assert.Equal(["cloud/claude-x", "smart", "tiny"], byId.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("llamacpp", byId["tiny"].GetProperty("backend").GetString());
        Assert.Equal("anthropic", byId["cloud/claude-x"].GetProperty("provider_kind").GetString());
        Assert.Equal("cost-optimized", byId["smart"].GetProperty("strategy").GetString());
    }

    [Fact]
    public async Task Metrics_are_prometheus_text_with_requests_latency_and_breakers_and_unknown_models_in_one_series()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        for (var i = 0; i < 3; i++)
        {
            await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat($"no-such-model-{i}")));
        }

        using var response = await host.Unix.GetAsync(new Uri("/metrics", UriKind.Relative), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
        Assert.Contains("ullm_requests_total{model=\"tiny\",target=\"tiny\",status=\"200\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("ullm_request_duration_seconds_count{model=\"tiny\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("ullm_tokens_total{target=\"tiny\",kind=\"prompt\"} 10", text, StringComparison.Ordinal);
        Assert.Contains("ullm_time_to_first_token_seconds_count{target=\"tiny\"} 2", text, StringComparison.Ordinal);
        // Names that resolve to nothing share one series: a client cannot grow the metrics without bound.
        Assert.Contains("ullm_requests_total{model=\"none\",target=\"none\",status=\"404\"} 3", text, StringComparison.Ordinal);
        Assert.DoesNotContain("no-such-model", text, StringComparison.Ordinal);
        Assert.Contains("ullm_breaker_state{upstream=\"local:tiny\"} 0", text, StringComparison.Ordinal);
        Assert.True(response.Headers.Contains("x-request-id"));
    }

    internal static JsonElement Error(JsonElement body) => body.GetProperty("error");
}

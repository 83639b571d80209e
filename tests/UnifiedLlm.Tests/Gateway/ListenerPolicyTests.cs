using System.Net.Http.Headers;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// Issue #21: what a caller without an API key may reach (local models only, unless security.anonymous_providers), how
/// the stock SDKs' made-up keys count, and who may read /metrics on TCP.
/// </summary>
public sealed class ListenerPolicyTests
{
    private const string Cloud = """
        [providers.cloud]
        kind = "openai"
        base_url = "CLOUD/v1"
        models = ["gpt-x"]

        [routes.smart]
        strategy = "cloud-first"
        targets = ["cloud/gpt-x", "tiny"]

        [routes.remote]
        targets = ["cloud/gpt-x"]

        [router.fallback]
        tiny = ["cloud/gpt-x"]
        """;

    [Fact]
    public async Task Callers_without_a_key_reach_local_models_only_and_routes_skip_their_provider_targets()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var local = await FakeUpstream.StartAsync();
        local.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("from local"));
        await using var cloud = await FakeUpstream.StartAsync();
        cloud.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("from cloud"));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", local.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(Cloud.Replace("CLOUD", cloud.BaseAddress.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal), models);
        var (_, secret) = await host.Keys.CreateAsync("ci", [], 0, 0, null, ct);

        // No key, or a key that is not ullmd's (as the OpenAI SDKs always send one): local models only.
        foreach (var anonymousKey in new string?[] { null, "sk-anything-the-sdk-wanted" })
        {
            foreach (var model in new[] { "cloud/gpt-x", "remote" })
            {
                var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat(model), anonymousKey));
                Assert.Equal(403, status);
                Assert.Contains("security.anonymous_providers = true", Http.ErrorMessage(body), StringComparison.Ordinal);
                Assert.Equal("provider_needs_key", body.GetProperty("error").GetProperty("code").GetString());
            }

            var (routed, routedBody, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("smart"), anonymousKey));
            Assert.Equal(200, routed);
            Assert.Equal("from local", Content(routedBody));
        }

        // A local model whose fallback is a provider: the local model still serves.
        local.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("from local"));
        var (tinyStatus, tinyBody, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        Assert.Equal(200, tinyStatus);
        Assert.Equal("from local", Content(tinyBody));
        Assert.Empty(cloud.Requests);

        // ullmd's own key format is checked even where anonymous use is allowed.
        var (bogus, bogusBody, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny"), "ullm-not-a-real-key"));
        Assert.Equal(401, bogus);
        Assert.Equal("invalid_api_key", bogusBody.GetProperty("error").GetProperty("code").GetString());

        // With a key, providers serve.
        var (keyed, keyedBody, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("smart"), secret));
        Assert.Equal(200, keyed);
        Assert.Equal("from cloud", Content(keyedBody));

        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 20), ct);
        Assert.Contains(rows, r => r.ModelRequested == "smart" && r.Target == "tiny" && r.FallbackPath.Contains("cloud/gpt-x (skipped: no API key)"));
        Assert.Contains(rows, r => r.ModelRequested == "cloud/gpt-x" && r.HttpStatus == 403);
    }

    [Fact]
    public async Task Anonymous_providers_lets_callers_without_a_key_reach_providers()
    {
        await using var cloud = await FakeUpstream.StartAsync();
        cloud.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("from cloud"));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", cloud.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(
            Cloud.Replace("CLOUD", cloud.BaseAddress.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal) + "\n[security]\nanonymous_providers = true\n", models);

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("cloud/gpt-x"), "sk-sdk-placeholder"));

        Assert.Equal(200, status);
        Assert.Equal("from cloud", Content(body));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Metrics_on_tcp_need_a_valid_key_unless_opened_and_stay_open_on_the_unix_socket(bool open)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await GatewayHost.StartAsync(open ? "[security]\nmetrics_open_on_tcp = true\n" : "", new StaticModelEndpoints());
        var (_, secret) = await host.Keys.CreateAsync("prometheus", [], 0, 0, null, ct);

        using var anonymous = await host.Tcp.GetAsync("metrics", ct);
        using var revokedOrBogus = await Get(host.Tcp, "metrics", "ullm-not-a-real-key");
        using var keyed = await Get(host.Tcp, "metrics", secret);
        using var unix = await host.Unix.GetAsync("metrics", ct);

        Assert.Equal(open ? 200 : 401, (int)anonymous.StatusCode);
        if (!open)
        {
            Assert.Contains("security.metrics_open_on_tcp = true", await anonymous.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }

        Assert.Equal(open ? 200 : 401, (int)revokedOrBogus.StatusCode);
        Assert.Equal(200, (int)keyed.StatusCode);
        Assert.Contains("ullm_requests_in_flight", await keyed.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        Assert.Equal(200, (int)unix.StatusCode);
    }

    private static Task<HttpResponseMessage> Get(HttpClient client, string path, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    private static string? Content(System.Text.Json.JsonElement body) =>
        body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
}

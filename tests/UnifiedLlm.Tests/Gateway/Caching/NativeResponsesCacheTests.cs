using UnifiedLlm.Daemon.Gateway.Caching;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>
/// A cached route whose target speaks the Responses API natively (responses_api = true, a FakeUpstream answering
/// /v1/responses in its wire format): its Responses answers are not kept, while its chat completions are.
/// </summary>
public sealed class NativeResponsesCacheTests
{
    [Fact(Timeout = 120_000)]
    public async Task Answers_of_a_native_responses_target_are_not_cached_and_a_request_only_it_can_serve_bypasses_the_cache()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, _) => c.Request.Path.Value!.EndsWith("/responses", StringComparison.Ordinal)
            ? FakeUpstream.WriteJsonAsync(c, FakeUpstream.ResponseObject("It is sunny."))
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("It is sunny.", "gpt-x", 5, 2));
        await using var host = await GatewayHost.StartAsync(CacheRig.CloudRouteConfig(upstream.BaseAddress, providerExtra: "responses_api = true"), new StaticModelEndpoints());
        const string Translatable = """{"model":"cached","input":"Weather in Oslo?","temperature":0}""";
        // A hosted tool: chat completions has none, so only the native target can serve it.
        const string NativeOnly = """{"model":"cached","input":"Weather in Oslo?","temperature":0,"tools":[{"type":"web_search_preview"}]}""";

        var chat = new[] { await PostAsync(host, "/v1/chat/completions", CacheRig.Chat(model: "cached")), await PostAsync(host, "/v1/chat/completions", CacheRig.Chat(model: "cached")) };
        var translatable = new[] { await PostAsync(host, "/v1/responses", Translatable), await PostAsync(host, "/v1/responses", Translatable) };
        var nativeOnly = new[] { await PostAsync(host, "/v1/responses", NativeOnly), await PostAsync(host, "/v1/responses", NativeOnly) };

        // The route's cache works: the same chat completion is asked upstream once.
        Assert.Equal(["miss", "hit"], chat);
        // Looked up (a chat-shaped answer could serve it) but never stored: the second is a miss again.
        Assert.Equal(["miss", "miss"], translatable);
        Assert.Equal(["bypass", "bypass"], nativeOnly);
        Assert.Equal(["/v1/chat/completions", "/v1/responses", "/v1/responses", "/v1/responses", "/v1/responses"], upstream.Requests.Select(r => r.Path));
        using (var metrics = await host.Unix.GetAsync("/metrics", ct))
        {
            var text = await metrics.Content.ReadAsStringAsync(ct);
            Assert.Contains("ullm_cache_entries{model=\"cached\"} 1\n", text, StringComparison.Ordinal);
            Assert.Contains("ullm_cache_requests_total{model=\"cached\",result=\"bypass\"} 2\n", text, StringComparison.Ordinal);
        }

        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), ct);
        Assert.Equal(["bypass", "bypass", "hit", "miss", "miss", "miss"], rows.Select(r => r.Cache).Order(StringComparer.Ordinal));
        Assert.All(rows.Where(r => r.Cache != "hit"), r => Assert.Equal("cloud/gpt-x", r.Target));
    }

    private static async Task<string?> PostAsync(GatewayHost host, string path, string json)
    {
        var (status, body, response) = await Http.SendAsync(host.Unix, Http.Post(path, json));
        Assert.True(status == 200, $"{path}: {body}");
        return response.Headers.TryGetValues(CacheGate.Header, out var values) ? values.Single() : null;
    }
}

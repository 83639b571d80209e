using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>
/// The gateway (real Kestrel, real SQLite) in front of a fake upstream that numbers its answers ("answer 1", "answer 2",
/// …) so a test can tell a cached answer from a fresh one; streams come as pieces of the same text. Model "tiny" has
/// the cache the test configures, model "plain" none.
/// </summary>
internal sealed class CacheRig : IAsyncDisposable
{
    private int answers;

    private CacheRig(FakeUpstream upstream, StaticModelEndpoints models, GatewayHost host)
    {
        Upstream = upstream;
        Models = models;
        Host = host;
    }

    public FakeUpstream Upstream { get; }

    public StaticModelEndpoints Models { get; }

    public GatewayHost Host { get; }

    /// <summary>Awaited by the upstream before it answers, when set (to hold requests in flight).</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Characters appended to every answer (to make entries larger).</summary>
    public int Padding { get; set; }

    /// <summary>When set, the next upstream answer is a 500.</summary>
    public bool FailNext { get; set; }

    public int UpstreamCalls => Upstream.Requests.Count;

    public static async Task<CacheRig> StartAsync(string cache, string toml = "", FakeTimeProvider? time = null)
    {
        var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        models.Serve("plain", upstream.BaseAddress, "plain.gguf");
        var host = await GatewayHost.StartAsync($"[models.tiny.cache]\n{cache}\n{toml}", models, time);
        var rig = new CacheRig(upstream, models, host);
        upstream.Handler = rig.AnswerAsync;
        return rig;
    }

    /// <summary>A config whose route <c>cached</c> targets the fake cloud provider's <c>gpt-x</c> with <paramref name="cache"/>, open to anonymous callers.</summary>
    public static string CloudRouteConfig(Uri cloud, string cache = "{}", string providerExtra = "") => $$"""
        [security]
        anonymous_providers = true

        [providers.cloud]
        kind = "openai"
        base_url = "{{cloud.AbsoluteUri}}v1"
        {{providerExtra}}
        models = ["gpt-x"]

        [routes.cached]
        targets = ["cloud/gpt-x"]
        cache = {{cache}}
        """;

    public static string Chat(string content = "hi", bool stream = false, string extra = ",\"temperature\":0", string model = "tiny") =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":{{JsonSerializer.Serialize(content)}}}],"stream":{{(stream ? "true" : "false")}}{{extra}}}""";

    public async Task<(int Status, JsonElement Body, string? Cache)> PostAsync(string json, string? key = null, string path = "/v1/chat/completions")
    {
        var (status, body, response) = await Http.SendAsync(Host.Unix, Http.Post(path, json, key));
        return (status, body, CacheHeader(response));
    }

    /// <summary>A streamed request: the header and every data event, [DONE] included.</summary>
    public async Task<(int Status, string? Cache, List<string> Events)> StreamAsync(string json, string? key = null, string path = "/v1/chat/completions")
    {
        var ct = TestContext.Current.CancellationToken;
        using var request = Http.Post(path, json, key);
        using var response = await Host.Unix.SendAsync(request, System.Net.Http.HttpCompletionOption.ResponseHeadersRead, ct);
        using var reader = new SseReader(await response.Content.ReadAsStreamAsync(ct));
        var events = (await reader.RestAsync(ct)).Select(e => e.Data).ToList();
        return ((int)response.StatusCode, CacheHeader(response), events);
    }

    public static string Content(JsonElement body) => body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    public async Task<string> MetricsAsync()
    {
        using var response = await Host.Unix.GetAsync("/metrics", TestContext.Current.CancellationToken);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// Waits until the cache holds <paramref name="count"/> entries of the model "tiny": an answer is stored once it has
    /// reached the client, so a test that moves the clock after an answer waits for the store, or the entry is stamped
    /// with the moved clock.
    /// </summary>
    public async Task StoredAsync(int count)
    {
        var expected = $"ullm_cache_entries{{model=\"tiny\"}} {count}\n";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (!(await MetricsAsync()).Contains(expected, StringComparison.Ordinal))
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds, failing with a timeout after <paramref name="limit"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan limit)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(limit);
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    public ValueTask DisposeAsync() => DisposeAllAsync();

    private static string? CacheHeader(System.Net.Http.HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-ullm-cache", out var values) ? values.Single() : null;

    private async ValueTask DisposeAllAsync()
    {
        await Host.DisposeAsync();
        await Upstream.DisposeAsync();
        Models.Dispose();
    }

    private async Task AnswerAsync(HttpContext context, JsonObject body)
    {
        if (Gate is { } gate)
        {
            await gate.Task;
        }

        if (FailNext)
        {
            FailNext = false;
            await FakeUpstream.WriteJsonAsync(context, new JsonObject { ["error"] = new JsonObject { ["message"] = "upstream broke" } }, 500);
            return;
        }

        var text = "answer " + Interlocked.Increment(ref answers).ToString(CultureInfo.InvariantCulture) + new string('x', Padding);
        var path = context.Request.Path.Value!;
        if (path.EndsWith("/embeddings", StringComparison.Ordinal))
        {
            await FakeUpstream.WriteJsonAsync(context, new JsonObject
            {
                ["object"] = "list",
                ["data"] = new JsonArray(new JsonObject { ["object"] = "embedding", ["index"] = 0, ["embedding"] = new JsonArray(answers, 0.5, -1) }),
                ["model"] = "tiny.gguf",
                ["usage"] = new JsonObject { ["prompt_tokens"] = 3, ["total_tokens"] = 3 },
            });
        }
        else if (path.EndsWith("/v1/completions", StringComparison.Ordinal))
        {
            await FakeUpstream.WriteJsonAsync(context, new JsonObject
            {
                ["id"] = "cmpl-1",
                ["object"] = "text_completion",
                ["created"] = 1,
                ["model"] = "tiny.gguf",
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["text"] = text, ["logprobs"] = null, ["finish_reason"] = "length" }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 4, ["completion_tokens"] = 6, ["total_tokens"] = 10 },
            });
        }
        else if (body["stream"]?.GetValue<bool>() == true)
        {
            await FakeUpstream.StreamAsync(context, [.. text.Chunk(3).Select(c => new string(c))]);
        }
        else
        {
            await FakeUpstream.WriteJsonAsync(context, FakeUpstream.Completion(text, "tiny.gguf", 5, 2));
        }
    }
}

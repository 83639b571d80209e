using System.Text;
using System.Text.Json;
using CsCheck;
using Microsoft.AspNetCore.Http;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Tests.Gateway;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Fuzzing the request scanners (issue #21) with CsCheck: generated OpenAI and Anthropic bodies, damaged ones and raw
/// bytes. Whatever comes, the answer is a typed 4xx naming what is wrong or a request whose upstream body is valid
/// JSON with the upstream's model; never another exception (which the gateway would answer 500). CsCheck prints the
/// seed of a failing input; <c>CsCheck_Seed</c> replays it.
/// </summary>
public sealed class RequestFuzzTests
{
    private const long MaxBody = 1 << 20;

    [Fact]
    public async Task Openai_bodies_are_accepted_with_a_valid_upstream_body_or_refused_with_a_400_naming_the_problem()
    {
        var inputs = SuiteRun.Count(3000);
        await FuzzInputs.OpenAiBody.SampleAsync(async body =>
        {
            foreach (var kind in new[] { EndpointKind.ChatCompletions, EndpointKind.Completions, EndpointKind.Embeddings })
            {
                ProxyRequest request;
                try
                {
                    request = ProxyRequest.From(kind, await ReadBodyAsync(body));
                }
                catch (GatewayException e)
                {
                    AssertClientError(e);
                    continue;
                }

                using var upstream = JsonDocument.Parse(request.ForUpstream("upstream/model"));
                var fields = upstream.RootElement.EnumerateObject().ToList();
                Assert.Equal("upstream/model", fields.Last(f => f.NameEquals("model")).Value.GetString());
                if (request.Stream)
                {
                    Assert.True(fields.Last(f => f.NameEquals("stream_options")).Value.GetProperty("include_usage").GetBoolean());
                }
            }
        }, iter: inputs, print: Show);
        SuiteRun.Record("fuzz.openai_scan", $"{inputs}");
    }

    [Fact]
    public async Task Anthropic_bodies_translate_to_a_valid_openai_request_or_are_refused_with_a_400_naming_the_problem()
    {
        var inputs = SuiteRun.Count(3000);
        await FuzzInputs.AnthropicBody.SampleAsync(async body =>
        {
            try
            {
                var translated = AnthropicInboundTranslator.ToOpenAi(RequestBody.ParseObject(await ReadBodyAsync(body)));
                ProxyRequest.From(EndpointKind.ChatCompletions, JsonSerializer.SerializeToUtf8Bytes(translated));
            }
            catch (GatewayException e)
            {
                AssertClientError(e);
            }
        }, iter: inputs, print: Show);
        SuiteRun.Record("fuzz.anthropic_translator", $"{inputs}");
    }

    [Fact]
    public async Task Over_http_every_generated_body_gets_a_200_or_a_4xx_with_an_error_object_and_ullmd_keeps_serving()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = async (c, body) =>
        {
            // Read as a backend reads it: a key given twice has its last value (the tree's indexer would throw).
            using var sent = JsonDocument.Parse(FakeUpstream.Json(body));
            if (sent.RootElement.EnumerateObject().LastOrDefault(p => p.NameEquals("stream")).Value.ValueKind == JsonValueKind.True)
            {
                await FakeUpstream.StreamAsync(c, "hi");
                return;
            }

            await FakeUpstream.WriteJsonAsync(c, c.Request.Path.Value!.EndsWith("/embeddings", StringComparison.Ordinal)
                ? new System.Text.Json.Nodes.JsonObject { ["object"] = "list", ["data"] = new System.Text.Json.Nodes.JsonArray() }
                : FakeUpstream.Completion("hi"));
        };
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var inputs = SuiteRun.Count(150);
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();

        var paths = Gen.OneOf("/v1/chat/completions", "/v1/completions", "/v1/embeddings");
        var openAi = Gen.Select(paths, FuzzInputs.OpenAiBody);
        var anthropic = Gen.Select(Gen.Const("/v1/messages"), FuzzInputs.AnthropicBody);
        await Gen.Frequency<(string, byte[])>((3, openAi), (1, anthropic)).SampleAsync(async (path, body) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new("application/json");
            using var response = await host.Unix.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            var status = (int)response.StatusCode;
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            Assert.True(status is 200 or (>= 400 and < 500), $"{path} answered {status}: {text}");
            if (status >= 400)
            {
                using var error = JsonDocument.Parse(text);
                // OpenAI's {"error":{"message"}} and Anthropic's {"type":"error","error":{"message"}} alike.
                var message = error.RootElement.GetProperty("error").GetProperty("message").GetString();
                Assert.False(string.IsNullOrWhiteSpace(message), text);
                if (path == "/v1/messages")
                {
                    Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
                }
            }
        }, iter: inputs, threads: 2, print: t => $"{t.Item1} {Show(t.Item2)}");

        using var health = await host.Unix.SendAsync(Http.Post("/v1/chat/completions", Http.Chat("tiny")), ct);
        Assert.Equal(200, (int)health.StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (models.HeldLeases > 0 && DateTime.UtcNow < deadline)
        {
            // A stream's lease is released as its handler ends, just after the client has read the last byte.
            await Task.Delay(10, ct);
        }

        Assert.Equal(0, models.HeldLeases);
        Assert.True(statuses.ContainsKey(400), string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}")));
        SuiteRun.Record("fuzz.http_bodies", $"{inputs}");
    }

    /// <summary>Found by the fuzzer (seed fxk1RynAlXn7): the OpenAI scan threw comparing a property name with an unpaired surrogate.</summary>
    [Fact]
    public void An_openai_body_with_an_unpaired_surrogate_in_a_property_name_is_a_400()
    {
        var body = Encoding.UTF8.GetBytes("""{ "messages": [{}], "\u00E9\uD83D]\uDE00": 1, "model": "tiny" }""");

        var e = Assert.Throws<GatewayException>(() => OpenAiBodyScan.Read(body));

        Assert.Equal(400, e.StatusCode);
        Assert.Contains("not valid Unicode (an unpaired surrogate escape)", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Found by the fuzzer (seed dABx_j9zJzjc): a string value holding "\ud800" is valid JSON grammar but not text, and
    /// went upstream, whose JSON reader failed with a 500. It is refused here, naming the top-level field that holds it.
    /// </summary>
    [Theory]
    [InlineData("""{ "model": "tiny", "input": "a", "stream_options": "\ud800" }""", "stream_options")]
    [InlineData("""{ "model": "tiny", "input": ["a", "b\udc00c"] }""", "input")]
    [InlineData("""{ "model": "tiny", "messages": [{ "role": "user", "content": "x\ud83dy" }] }""", "messages")]
    [InlineData("""{ "model": "tiny", "messages": [{ "role": "user", "content": [{ "type": "text", "text": "\ud83d\ud83d\ude00" }] }] }""", "messages")]
    [InlineData("""{ "model": "tiny", "input": "a", "metadata": { "deep": [{ "k\udfff": 1 }] } }""", "metadata")]
    [InlineData("""{ "model": "tiny", "input": "a", "user": "ends high \ud800" }""", "user")]
    public void An_openai_body_with_an_unpaired_surrogate_in_any_string_is_a_400_naming_the_field(string body, string field)
    {
        var e = Assert.Throws<GatewayException>(() => OpenAiBodyScan.Read(Encoding.UTF8.GetBytes(body)));

        Assert.Equal(400, e.StatusCode);
        Assert.Equal($"'{field}': holds a string that is not valid Unicode (an unpaired surrogate escape such as \\ud800)", e.Message);
    }

    [Theory]
    [InlineData("""{ "model": "tiny", "input": "a smile \ud83d\ude00, a newline \n, a quote \" and é" }""")]
    [InlineData("""{ "model": "tiny", "input": "an escaped backslash before u: \\ud800 is text" }""")]
    [InlineData("""{ "model": "tiny", "messages": [{ "role": "user", "content": "\u00e9\ud83d\ude00\u0041" }], "stream_options": { "\u0078": 1 } }""")]
    public void Escaped_text_with_whole_characters_is_read_as_before(string body)
    {
        var scan = OpenAiBodyScan.Read(Encoding.UTF8.GetBytes(body));

        Assert.Equal("tiny", scan.Model);
    }

    /// <summary>Inputs the fuzzer found that were answered 500 (an InvalidOperationException or ArgumentException inside the translator).</summary>
    [Theory]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":1,"content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":"x"}],"messages":[]}""", null)]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}""", null)]
    [InlineData("""{"model":"tiny","max_tokens":5,"system":[1],"messages":[{"role":"user","content":"x"}]}""", "system[0]")]
    [InlineData("""{"model":"tiny","max_tokens":5,"system":{"text":"x"},"messages":[{"role":"user","content":"x"}]}""", "system")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":[5]}]}""", "messages[0].content[0]")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":[{"type":7}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":"x"}]}]}""", "messages[0].content[0].source")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","content":5}]}]}""", "messages[0].content[0].content")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[1]}""", "tools[0]")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":3}}""", null)]
    [InlineData("""{"model":"tiny","max_tokens":5,"system":"\ud800","messages":[{"role":"user","content":"x"}]}""", "system")]
    [InlineData("""{"model":"tiny","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text\udc00"}]}]}""", "messages[0].content[0].type")]
    public async Task Anthropic_bodies_the_fuzzer_found_answered_500_now_get_a_400_naming_the_field(string body, string? field)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);

        using var response = await host.Unix.SendAsync(Http.Post("/v1/messages", body), ct);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));

        // tool_choice with a type that is not a string means "auto", as any unknown type does.
        var expected = body.Contains("\"tool_choice\"", StringComparison.Ordinal) ? 200 : 400;
        Assert.Equal(expected, (int)response.StatusCode);
        if (expected == 400)
        {
            Assert.Equal(("error", "invalid_request_error"), (error.RootElement.GetProperty("type").GetString(), error.RootElement.GetProperty("error").GetProperty("type").GetString()));
            var message = error.RootElement.GetProperty("error").GetProperty("message").GetString()!;
            Assert.StartsWith(field is null ? "the request body is not valid JSON: " : $"'{field}': ", message, StringComparison.Ordinal);
        }
    }

    /// <summary>The bytes as the gateway reads them from a request: the size limit and the UTF-8 check first.</summary>
    private static Task<byte[]> ReadBodyAsync(byte[] body)
    {
        var context = new DefaultHttpContext();
        context.Request.Body = new MemoryStream(body);
        context.Request.ContentLength = body.Length;
        return RequestBody.ReadAsync(context, MaxBody);
    }

    private static void AssertClientError(GatewayException e)
    {
        Assert.True(e.StatusCode is 400, $"{e.StatusCode}: {e.Message}");
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    private static string Show(byte[] body) => Encoding.UTF8.GetString(body);
}

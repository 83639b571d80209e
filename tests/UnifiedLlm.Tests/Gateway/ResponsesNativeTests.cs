using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// /v1/responses relayed to a provider declared to speak the Responses API (responses_api = true): a FakeUpstream
/// answering /v1/responses in the real wire format (response objects; events with event lines, sequence_number and
/// response.completed), driven by the official openai npm client. ullmd keeps the conversation: the response's id,
/// store and previous_response_id are its own, and a chain goes to the upstream as input items.
/// </summary>
public sealed class ResponsesNativeTests
{
    private static string Config(FakeUpstream upstream, string extra = "") => $"""
        [providers.cloud]
        kind = "openai"
        base_url = "{upstream.BaseAddress.AbsoluteUri}v1"
        responses_api = true
        models = ["gpt-x"]
        {extra}
        """;

    private static JsonObject Create(JsonNode input, JsonObject? extra = null, string model = "cloud/gpt-x")
    {
        var body = new JsonObject { ["model"] = model, ["input"] = input.DeepClone() };
        foreach (var (name, value) in extra ?? [])
        {
            body[name] = value?.DeepClone();
        }

        return body;
    }

    private static bool Streams(JsonObject body) => body["stream"]?.GetValue<bool>() == true;

    [Fact(Timeout = 120_000)]
    public async Task A_provider_that_speaks_the_responses_api_gets_the_request_as_it_is_and_its_answer_is_relayed_and_stored()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => Streams(body)
            ? FakeUpstream.ResponsesStreamAsync(c, ["Hel", "lo"])
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.ResponseObject("hello there", input: 9, output: 3));
        await using var host = await GatewayHost.StartAsync(Config(upstream), new StaticModelEndpoints());
        var v1 = new Uri(host.TcpAddress, "v1");
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, ct);
        var tools = JsonNode.Parse("""[{"type":"function","name":"weather","parameters":{"type":"object"},"strict":true}]""")!;

        var answer = await OpenAiNodeClient.CallAsync(v1, "responses", Create("hi", new JsonObject { ["instructions"] = "be brief", ["tools"] = tools, ["reasoning"] = new JsonObject { ["effort"] = "low" } }), key);
        var stream = await OpenAiNodeClient.CallAsync(v1, "responses", Create("hi again", new JsonObject { ["stream"] = true }), key);

        Assert.True(answer.Ok, answer.ToString());
        var (path, _, sent) = upstream.Requests.First();
        Assert.Equal("/v1/responses", path);
        // As the client sent it (the tool in the Responses API's shape, and reasoning, which chat completions has no place for), but for the model and store.
        Assert.Equal(("gpt-x", "hi", "be brief", false), (sent["model"]!.GetValue<string>(), sent["input"]!.GetValue<string>(), sent["instructions"]!.GetValue<string>(), sent["store"]!.GetValue<bool>()));
        Assert.Equal(tools.ToJsonString(), sent["tools"]!.ToJsonString());
        Assert.Equal("low", sent["reasoning"]!["effort"]!.GetValue<string>());
        var id = answer.Result!["id"]!.GetValue<string>();
        Assert.StartsWith("resp_", id, StringComparison.Ordinal);
        Assert.NotEqual("resp_upstream", id);
        Assert.Equal(("hello there", true, "msg_upstream"), (answer.Result["output_text"]!.GetValue<string>(), answer.Result["store"]!.GetValue<bool>(), answer.Result["output"]![0]!["id"]!.GetValue<string>()));
        Assert.Equal((9, 3), (answer.Result["usage"]!["input_tokens"]!.GetValue<int>(), answer.Result["usage"]!["output_tokens"]!.GetValue<int>()));

        Assert.True(stream.Ok, stream.ToString());
        var expected = FakeUpstream.ResponsesEvents(["Hel", "lo"]).ToList();
        Assert.Equal(expected.Select(e => (e["type"]!.GetValue<string>(), e["sequence_number"]!.GetValue<int>())), stream.Events.Select(e => (e!["type"]!.GetValue<string>(), e["sequence_number"]!.GetValue<int>())));
        // Events without a response object pass byte for byte; those with one carry ullmd's id.
        Assert.Equal(expected[4].ToJsonString(), stream.Events[4]!.ToJsonString());
        var completed = stream.Events[^1]!["response"]!;
        var streamedId = completed["id"]!.GetValue<string>();
        Assert.Equal(streamedId, stream.Events[0]!["response"]!["id"]!.GetValue<string>());
        Assert.Equal(("Hello", true), (completed["output"]![0]!["content"]![0]!["text"]!.GetValue<string>(), completed["store"]!.GetValue<bool>()));

        var retrieved = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: streamedId, apiKey: key);
        Assert.True(retrieved.Ok, retrieved.ToString());
        Assert.Equal(completed.ToJsonString(), retrieved.Result!.ToJsonString());
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), ct);
        Assert.Equal([(5L, 2L), (9L, 3L)], rows.OrderBy(r => r.PromptTokens).Select(r => (r.PromptTokens, r.CompletionTokens)));
        Assert.All(rows, r => Assert.Equal(("cloud/gpt-x", "ok", "cloud/gpt-x", false), (r.ModelRequested, r.Outcome, r.Target, r.TokensEstimated)));
    }

    [Fact(Timeout = 120_000)]
    public async Task A_conversation_continues_through_previous_response_id_sent_to_the_upstream_as_input_items()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.ResponseObject(upstream.Requests.Count == 1 ? "Paris." : "About 2 million."));
        await using var host = await GatewayHost.StartAsync(Config(upstream), new StaticModelEndpoints());
        var v1 = new Uri(host.TcpAddress, "v1");
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, ct);

        var first = await OpenAiNodeClient.CallAsync(v1, "responses", Create("Capital of France?"), key);
        Assert.True(first.Ok, first.ToString());
        var second = await OpenAiNodeClient.CallAsync(v1, "responses", Create("Its population?", new JsonObject { ["previous_response_id"] = first.Result!["id"]!.DeepClone() }), key);

        Assert.True(second.Ok, second.ToString());
        Assert.Equal(("About 2 million.", first.Result["id"]!.GetValue<string>()), (second.Result!["output_text"]!.GetValue<string>(), second.Result["previous_response_id"]!.GetValue<string>()));
        var sent = upstream.Requests.Last().Body;
        Assert.Null(sent["previous_response_id"]);
        Assert.Equal(
            """[{"type":"message","role":"user","content":[{"type":"input_text","text":"Capital of France?"}]},"""
            + """{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Paris.","annotations":[]}]},"""
            + """{"role":"user","content":"Its population?"}]""",
            sent["input"]!.ToJsonString());
        var items = await OpenAiNodeClient.CallAsync(v1, "responses.input_items", path: second.Result["id"]!.GetValue<string>(), apiKey: key);
        Assert.True(items.Ok, items.ToString());
        Assert.Equal("Its population?", items.Result!["data"]!.AsArray().Single()!["content"]![0]!["text"]!.GetValue<string>());
    }

    [Theory(Timeout = 120_000)]
    [InlineData("500")]
    [InlineData("error-event")]
    public async Task A_native_target_failing_before_the_first_byte_falls_back_to_a_translated_one(string fault)
    {
        await using var native = await FakeUpstream.StartAsync();
        native.Handler = async (c, _) =>
        {
            if (fault == "500")
            {
                await FakeUpstream.WriteJsonAsync(c, JsonNode.Parse("""{"error":{"message":"overloaded","type":"server_error"}}""")!, 500);
                return;
            }

            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.ResponsesEvents(["x"], upTo: 1).Single(), "response.created");
            await FakeUpstream.SendAsync(c, JsonNode.Parse("""{"type":"error","sequence_number":1,"code":"server_error","message":"the engine fell over","param":null}""")!, "error");
        };
        await using var chat = await FakeUpstream.StartAsync();
        chat.Handler = (c, body) => Streams(body) ? FakeUpstream.StreamAsync(c, "from", " chat") : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("from chat"));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", chat.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(Config(native, """

            [security]
            anonymous_providers = true

            [router.fallback]
            "cloud/gpt-x" = ["tiny"]
            """), models);

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """{"model":"cloud/gpt-x","input":"hi"}"""));
        var events = await StreamingProxyTests.StreamAsync(host.Unix, """{"model":"cloud/gpt-x","input":"hi","stream":true}""", "/v1/responses");

        Assert.True(status == 200, body.ToString());
        Assert.Equal("from chat", body.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal("response.completed", events[^1].Event);
        Assert.Contains("from chat", events[^1].Data, StringComparison.Ordinal);
        Assert.All(native.Requests, r => Assert.Equal("/v1/responses", r.Path));
        Assert.All(chat.Requests, r => Assert.Equal("/v1/chat/completions", r.Path));
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), TestContext.Current.CancellationToken);
        Assert.All(rows, r => Assert.Equal(("ok", "tiny"), (r.Outcome, r.Target)));
        Assert.All(rows, r => Assert.StartsWith("cloud/gpt-x (", r.FallbackPath[0], StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_ullmd_cannot_translate_is_served_by_a_native_target_only_and_the_others_say_why()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var failing = false;
        upstream.Handler = (c, _) => failing
            ? FakeUpstream.WriteJsonAsync(c, JsonNode.Parse("""{"error":{"message":"overloaded","type":"server_error"}}""")!, 500)
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.ResponseObject("It is sunny."));
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync(Config(upstream, """

            [security]
            anonymous_providers = true

            [router.fallback]
            "cloud/gpt-x" = ["tiny"]
            """), models);
        // A hosted tool and a reasoning item: the Responses API has them, chat completions does not.
        const string Request = """
            {"model":"MODEL","tools":[{"type":"web_search_preview"}],
             "input":[{"type":"reasoning","id":"rs_1","summary":[]},{"role":"user","content":"Weather in Oslo?"}]}
            """;

        var (served, answer, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", Request.Replace("MODEL", "cloud/gpt-x", StringComparison.Ordinal)));
        failing = true;
        var (fellBack, fallbackError, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", Request.Replace("MODEL", "cloud/gpt-x", StringComparison.Ordinal)));
        var (local, localError, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", Request.Replace("MODEL", "tiny", StringComparison.Ordinal)));

        Assert.True(served == 200, answer.ToString());
        Assert.Equal("It is sunny.", answer.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
        var sent = upstream.Requests.First();
        Assert.Equal(("/v1/responses", "web_search_preview", "reasoning"), (sent.Path, sent.Body["tools"]![0]!["type"]!.GetValue<string>(), sent.Body["input"]![0]!["type"]!.GetValue<string>()));
        Assert.Equal(400, fellBack);
        Assert.Contains("tiny: it does not speak the Responses API natively (responses_api), and the request cannot be translated for it: ", Http.ErrorMessage(fallbackError), StringComparison.Ordinal);
        Assert.Contains("tool type 'web_search_preview' is not supported", Http.ErrorMessage(fallbackError), StringComparison.Ordinal);
        Assert.Equal((400, "tools[0].type"), (local, localError.GetProperty("error").GetProperty("param").GetString()));
        Assert.All(upstream.Requests, r => Assert.Equal("/v1/responses", r.Path));

        // The audit row of the request that fell back names the skipped target as (cannot translate).
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, "cloud/gpt-x", null, 10), TestContext.Current.CancellationToken);
        var skipped = Assert.Single(rows, r => r.HttpStatus == 400);
        Assert.Equal(["cloud/gpt-x (502)", "tiny (cannot translate)"], skipped.FallbackPath);
        Assert.Contains("tiny: it does not speak the Responses API natively (responses_api), and the request cannot be translated for it: ", skipped.Error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_native_stream_cut_mid_answer_ends_with_response_failed_and_is_not_stored()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        // Up to the first delta, then the stream closes without response.completed.
        upstream.Handler = (c, _) => FakeUpstream.ResponsesStreamAsync(c, ["Hel", "lo"], upTo: 5);
        await using var host = await GatewayHost.StartAsync(Config(upstream), new StaticModelEndpoints());
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, TestContext.Current.CancellationToken);
        var v1 = new Uri(host.TcpAddress, "v1");

        var stream = await OpenAiNodeClient.CallAsync(v1, "responses", Create("hi", new JsonObject { ["stream"] = true }), key);

        Assert.True(stream.Ok, stream.ToString());
        var last = stream.Events[^1]!;
        Assert.Equal(("response.failed", 5), (last["type"]!.GetValue<string>(), last["sequence_number"]!.GetValue<int>()));
        Assert.Equal(("failed", "stream_failed"), (last["response"]!["status"]!.GetValue<string>(), last["response"]!["error"]!["code"]!.GetValue<string>()));
        Assert.Contains("(request req_", last["response"]!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var id = last["response"]!["id"]!.GetValue<string>();
        Assert.Equal(stream.Events[0]!["response"]!["id"]!.GetValue<string>(), id);
        var retrieved = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: id, apiKey: key);
        Assert.Equal(404, retrieved.Status);
    }
}

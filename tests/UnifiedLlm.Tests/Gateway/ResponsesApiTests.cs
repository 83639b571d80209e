using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// /v1/responses through the gateway on real Kestrel and SQLite, with a fake chat-completions upstream, driven by the
/// official openai npm client where a client would use it.
/// </summary>
public sealed class ResponsesApiTests
{
    private static JsonObject Create(string model, JsonNode input, JsonObject? extra = null)
    {
        var body = new JsonObject { ["model"] = model, ["input"] = input.DeepClone() };
        foreach (var (name, value) in extra ?? [])
        {
            body[name] = value?.DeepClone();
        }

        return body;
    }

    [Fact(Timeout = 120_000)]
    public async Task The_sdk_creates_a_response_and_streams_one_through_the_chat_pipeline()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => body["stream"]?.GetValue<bool>() == true
            ? FakeUpstream.StreamAsync(c, "Hel", "lo")
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("hello there", prompt: 9, completion: 3));
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var v1 = new Uri(host.TcpAddress, "v1");
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, ct);

        var answer = await OpenAiNodeClient.CallAsync(v1, "responses", Create("tiny", "hi", new JsonObject { ["instructions"] = "be brief", ["temperature"] = 0 }), key);
        var stream = await OpenAiNodeClient.CallAsync(v1, "responses", Create("tiny", "hi again", new JsonObject { ["stream"] = true }), key);

        Assert.True(answer.Ok, answer.ToString());
        Assert.Equal("response", answer.Result!["object"]!.GetValue<string>());
        Assert.Equal("completed", answer.Result["status"]!.GetValue<string>());
        Assert.Equal("hello there", answer.Result["output_text"]!.GetValue<string>());
        Assert.Equal((9, 3, 12), (answer.Result["usage"]!["input_tokens"]!.GetValue<int>(), answer.Result["usage"]!["output_tokens"]!.GetValue<int>(), answer.Result["usage"]!["total_tokens"]!.GetValue<int>()));
        var (path, _, sent) = upstream.Requests.First();
        Assert.Equal("/v1/chat/completions", path);
        Assert.Equal("""[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]""", sent["messages"]!.ToJsonString());
        Assert.Equal("tiny.gguf", sent["model"]!.GetValue<string>());

        Assert.True(stream.Ok, stream.ToString());
        var types = stream.Events.Select(e => e!["type"]!.GetValue<string>()).ToList();
        Assert.Equal(
            [
                "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
                "response.output_item.done", "response.completed",
            ],
            types);
        Assert.Equal(Enumerable.Range(0, types.Count), stream.Events.Select(e => e!["sequence_number"]!.GetValue<int>()));
        var completed = stream.Events[^1]!["response"]!;
        Assert.Equal("Hello", completed["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Equal(2, completed["usage"]!["output_tokens"]!.GetValue<int>());

        // Both were stored (store defaults to true) and read back by the SDK; the audit log has both requests.
        var retrieved = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: completed["id"]!.GetValue<string>(), apiKey: key);
        Assert.True(retrieved.Ok, retrieved.ToString());
        Assert.Equal(completed.ToJsonString(), retrieved.Result!.ToJsonString());
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), ct);
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(("tiny", "ok", false), (r.ModelRequested, r.Outcome, r.TokensEstimated)));
    }

    [Fact(Timeout = 120_000)]
    public async Task A_function_call_round_trip_continues_through_previous_response_id_without_storing_the_provider_key()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory();
        const string ProviderKey = "sk-provider-secret-4711";
        dir.Write("provider.key", ProviderKey);
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => FakeUpstream.WriteJsonAsync(c, body["messages"]!.AsArray().Any(m => m!["role"]!.GetValue<string>() == "tool")
            ? FakeUpstream.Completion("It is sunny in Paris.")
            : JsonNode.Parse("""
                {"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,"finish_reason":"tool_calls",
                 "message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_42","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]}}],
                 "usage":{"prompt_tokens":20,"completion_tokens":8,"total_tokens":28}}
                """)!);
        using var models = new StaticModelEndpoints();
        await using var host = await GatewayHost.StartAsync($"""
            [providers.cloud]
            kind = "openai"
            base_url = "{upstream.BaseAddress.AbsoluteUri}v1"
            api_key_file = "{dir.File("provider.key")}"
            models = ["gpt-x"]
            """, models);
        var v1 = new Uri(host.TcpAddress, "v1");
        var (_, key) = await host.Keys.CreateAsync("agent", [], 0, 0, null, ct);
        var tools = JsonNode.Parse("""[{"type":"function","name":"weather","description":"the weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]""")!;

        var first = await OpenAiNodeClient.CallAsync(v1, "responses", Create("cloud/gpt-x", "Weather in Paris?", new JsonObject { ["tools"] = tools }), key);
        Assert.True(first.Ok, first.ToString());
        var call = first.Result!["output"]!.AsArray().Single()!;
        Assert.Equal(("function_call", "weather", "call_42", """{"city":"Paris"}"""), (call["type"]!.GetValue<string>(), call["name"]!.GetValue<string>(), call["call_id"]!.GetValue<string>(), call["arguments"]!.GetValue<string>()));
        var second = await OpenAiNodeClient.CallAsync(v1, "responses", Create(
            "cloud/gpt-x",
            new JsonArray(new JsonObject { ["type"] = "function_call_output", ["call_id"] = "call_42", ["output"] = """{"sky":"sunny"}""" }),
            new JsonObject { ["previous_response_id"] = first.Result["id"]!.DeepClone(), ["tools"] = tools.DeepClone() }), key);

        Assert.True(second.Ok, second.ToString());
        Assert.Equal("It is sunny in Paris.", second.Result!["output_text"]!.GetValue<string>());
        Assert.Equal(first.Result["id"]!.GetValue<string>(), second.Result["previous_response_id"]!.GetValue<string>());
        var sent = upstream.Requests.Last();
        Assert.Equal($"Bearer {ProviderKey}", sent.Headers["Authorization"]);
        Assert.Equal(
            """[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_42","type":"function","function":{"name":"weather","arguments":"{\u0022city\u0022:\u0022Paris\u0022}"}}]},"""
            + """{"role":"tool","tool_call_id":"call_42","content":"{\u0022sky\u0022:\u0022sunny\u0022}"}]""",
            sent.Body["messages"]!.ToJsonString());
        Assert.Equal("weather", sent.Body["tools"]![0]!["function"]!["name"]!.GetValue<string>());

        var items = await OpenAiNodeClient.CallAsync(v1, "responses.input_items", path: second.Result["id"]!.GetValue<string>(), apiKey: key);
        Assert.True(items.Ok, items.ToString());
        Assert.Equal("function_call_output", items.Result!["data"]!.AsArray().Single()!["type"]!.GetValue<string>());

        await host.StopAsync();
        var stored = string.Concat(Directory.GetFiles(dir.Path).Concat(Directory.GetFiles(Path.GetDirectoryName(host.SocketPath)!))
            .Where(f => Path.GetFileName(f).StartsWith("ullm.db", StringComparison.Ordinal)).Select(f => Convert.ToHexString(File.ReadAllBytes(f))));
        Assert.Contains(Convert.ToHexString("call_42"u8), stored, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(ProviderKey)), stored, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_stored_response_is_visible_only_to_the_key_that_made_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var v1 = new Uri(host.TcpAddress, "v1");
        var (_, a) = await host.Keys.CreateAsync("a", [], 0, 0, null, ct);
        var (_, b) = await host.Keys.CreateAsync("b", [], 0, 0, null, ct);
        var created = await OpenAiNodeClient.CallAsync(v1, "responses", Create("tiny", "secret plans"), a);
        Assert.True(created.Ok, created.ToString());
        var id = created.Result!["id"]!.GetValue<string>();

        var byB = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: id, apiKey: b);
        var itemsByB = await OpenAiNodeClient.CallAsync(v1, "responses.input_items", path: id, apiKey: b);
        var deleteByB = await OpenAiNodeClient.CallAsync(v1, "responses.delete", path: id, apiKey: b);
        var chainByB = await OpenAiNodeClient.CallAsync(v1, "responses", Create("tiny", "more", new JsonObject { ["previous_response_id"] = id }), b);
        var (anonymous, _, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{id}"));
        var byA = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: id, apiKey: a);
        var deleteByA = await OpenAiNodeClient.CallAsync(v1, "responses.delete", path: id, apiKey: a);
        var afterDelete = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: id, apiKey: a);

        Assert.All(new[] { byB, itemsByB, deleteByB, chainByB, afterDelete }, r => Assert.Equal(404, r.Status));
        Assert.Equal("previous_response_id", chainByB.Error!["param"]!.GetValue<string>());
        Assert.Contains(id, byB.Error!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(404, anonymous);
        Assert.True(byA.Ok, byA.ToString());
        Assert.Equal("hello", byA.Result!["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.True(deleteByA.Ok, deleteByA.ToString());
        Assert.Single(upstream.Requests);
    }

    [Fact(Timeout = 120_000)]
    public async Task Stored_responses_expire_after_the_retention_and_are_pruned()
    {
        var ct = TestContext.Current.CancellationToken;
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var upstream = await FakeUpstream.StartAsync();
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("[responses]\nretention_days = 2\n", models, clock);
        var (status, created, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """{"model":"tiny","input":"hi"}"""));
        Assert.Equal(200, status);
        var id = created.GetProperty("id").GetString();

        clock.Advance(TimeSpan.FromDays(1));
        var (dayLater, _, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{id}"));
        clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        var (expired, error, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{id}"));
        var (chain, chainError, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", $$"""{"model":"tiny","input":"more","previous_response_id":"{{id}}"}"""));
        var retention = host.Services.GetServices<IHostedService>().OfType<ResponseRetention>().Single();
        await retention.PruneAsync(ct);

        Assert.Equal(200, dayLater);
        Assert.Equal(404, expired);
        Assert.Contains("retention_days = 2", Http.ErrorMessage(error), StringComparison.Ordinal);
        Assert.Equal((404, "previous_response_id"), (chain, chainError.GetProperty("error").GetProperty("param").GetString()));
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(Path.GetDirectoryName(host.SocketPath)!, "ullm.db")}");
        await connection.OpenAsync(ct);
        await using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM responses";
        Assert.Equal(0L, await count.ExecuteScalarAsync(ct));
    }

    [Fact]
    public async Task Bad_input_gets_a_400_naming_the_field_and_the_request_id_and_store_false_is_not_kept()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("[responses]\nstore_by_default = false\n", models);

        var (bad, error, response) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """{"model":"tiny","input":[{"type":"message","role":"user","content":[{"type":"input_audio"}]}]}"""));
        var (notStored, answer, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """{"model":"tiny","input":"hi"}"""));
        var (stored, storedAnswer, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """{"model":"tiny","input":"hi","store":true}"""));
        var (missing, _, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{answer.GetProperty("id").GetString()}"));
        var (found, _, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{storedAnswer.GetProperty("id").GetString()}"));

        Assert.Equal(400, bad);
        Assert.Equal("input[0].content[0].type", error.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains($"(request {response.Headers.GetValues("x-request-id").Single()})", Http.ErrorMessage(error), StringComparison.Ordinal);
        Assert.Equal((200, false), (notStored, answer.GetProperty("store").GetBoolean()));
        Assert.Equal((200, true), (stored, storedAnswer.GetProperty("store").GetBoolean()));
        Assert.Equal(404, missing);
        Assert.Equal(200, found);
        Assert.Equal(2, upstream.Requests.Count);
    }

    [Fact]
    public async Task Input_items_are_listed_in_pages_either_way()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, created, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """
            {"model":"tiny","input":[{"role":"user","content":"one"},{"role":"assistant","content":"two"},{"id":"mine","role":"user","content":"three"}]}
            """));
        var id = created.GetProperty("id").GetString();

        async Task<System.Text.Json.JsonElement> Page(string query) =>
            (await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{id}/input_items{query}"))).Body;

        var newest = await Page("?limit=2");
        var rest = await Page($"?limit=2&after={newest.GetProperty("last_id").GetString()}");
        var oldest = await Page("?order=asc&limit=1");
        var (badLimit, limitError, _) = await Http.SendAsync(host.Unix, new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{id}/input_items?limit=500"));

        static string Texts(System.Text.Json.JsonElement page) =>
            string.Join(",", page.GetProperty("data").EnumerateArray().Select(i => i.GetProperty("content")[0].GetProperty("text").GetString()));
        Assert.Equal(("list", "three,two", true, "mine"), (newest.GetProperty("object").GetString(), Texts(newest), newest.GetProperty("has_more").GetBoolean(), newest.GetProperty("first_id").GetString()));
        Assert.Equal(("one", false), (Texts(rest), rest.GetProperty("has_more").GetBoolean()));
        Assert.Equal(("one", "input_text"), (Texts(oldest), oldest.GetProperty("data")[0].GetProperty("content")[0].GetProperty("type").GetString()));
        Assert.Equal("output_text", newest.GetProperty("data")[1].GetProperty("content")[0].GetProperty("type").GetString());
        Assert.Equal((400, "limit"), (badLimit, limitError.GetProperty("error").GetProperty("param").GetString()));
    }

    [Fact]
    public async Task An_anthropic_provider_serves_a_response_through_the_messages_translation()
    {
        await using var anthropic = await FakeUpstream.StartAsync();
        anthropic.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, JsonNode.Parse("""
            {"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
             "content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Oslo"}}],
             "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":7}}
            """)!);
        using var dir = new TempDirectory();
        dir.Write("anthropic.key", "sk-ant-secret");
        await using var host = await GatewayHost.StartAsync($"""
            [security]
            anonymous_providers = true

            [providers.claude]
            kind = "anthropic"
            base_url = "{anthropic.BaseAddress.AbsoluteUri}v1"
            api_key_file = "{dir.File("anthropic.key")}"
            models = ["claude-x"]
            """, new StaticModelEndpoints());

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/responses", """
            {"model":"claude/claude-x","instructions":"Be brief.","input":"Weather in Oslo?","max_output_tokens":100,
             "tools":[{"type":"function","name":"weather","parameters":{"type":"object"}}]}
            """));

        Assert.True(status == 200, body.ToString());
        var sent = anthropic.Requests.Single();
        Assert.Equal(("/v1/messages", "Be brief.", 100), (sent.Path, sent.Body["system"]!.GetValue<string>(), sent.Body["max_tokens"]!.GetValue<int>()));
        Assert.Equal("weather", sent.Body["tools"]![0]!["name"]!.GetValue<string>());
        var output = body.GetProperty("output");
        Assert.Equal("Let me check.", output[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(("function_call", "toolu_1", """{"city":"Oslo"}"""), (output[1].GetProperty("type").GetString(), output[1].GetProperty("call_id").GetString(), output[1].GetProperty("arguments").GetString()));
        Assert.Equal((10, 7), (body.GetProperty("usage").GetProperty("input_tokens").GetInt32(), body.GetProperty("usage").GetProperty("output_tokens").GetInt32()));
    }

    [Fact(Timeout = 120_000)]
    public async Task An_anthropic_provider_streams_a_response_with_text_and_a_function_call_to_the_sdk()
    {
        await using var anthropic = await FakeUpstream.StartAsync();
        anthropic.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            async Task Send(string name, string json) => await FakeUpstream.SendAsync(c, JsonNode.Parse(json)!, name);
            await Send("message_start", """{"type":"message_start","message":{"id":"msg_3","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}""");
            await Send("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""");
            await Send("ping", """{"type":"ping"}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me"}}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" check."}}""");
            await Send("content_block_stop", """{"type":"content_block_stop","index":0}""");
            await Send("content_block_start", """{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}}""");
            await Send("content_block_stop", """{"type":"content_block_stop","index":1}""");
            await Send("message_delta", """{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}""");
            await Send("message_stop", """{"type":"message_stop"}""");
        };
        using var dir = new TempDirectory();
        dir.Write("anthropic.key", "sk-ant-secret");
        await using var host = await GatewayHost.StartAsync($"""
            [providers.claude]
            kind = "anthropic"
            base_url = "{anthropic.BaseAddress.AbsoluteUri}v1"
            api_key_file = "{dir.File("anthropic.key")}"
            models = ["claude-x"]
            """, new StaticModelEndpoints());
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, TestContext.Current.CancellationToken);
        var v1 = new Uri(host.TcpAddress, "v1");
        var tools = JsonNode.Parse("""[{"type":"function","name":"weather","parameters":{"type":"object"}}]""")!;

        var stream = await OpenAiNodeClient.CallAsync(v1, "responses", Create("claude/claude-x", "Weather in Oslo?", new JsonObject { ["stream"] = true, ["tools"] = tools }), key);

        Assert.True(stream.Ok, stream.ToString());
        var sent = anthropic.Requests.Single();
        Assert.Equal(("/v1/messages", true, "weather"), (sent.Path, sent.Body["stream"]!.GetValue<bool>(), sent.Body["tools"]![0]!["name"]!.GetValue<string>()));
        Assert.Equal(
            [
                "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
                "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta", "response.function_call_arguments.done",
                "response.output_item.done", "response.completed",
            ],
            stream.Events.Select(e => e!["type"]!.GetValue<string>()));
        Assert.Equal(Enumerable.Range(0, stream.Events.Count), stream.Events.Select(e => e!["sequence_number"]!.GetValue<int>()));
        var completed = stream.Events[^1]!["response"]!;
        var output = completed["output"]!.AsArray();
        Assert.Equal("Let me check.", output[0]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Equal(("function_call", "toolu_1", "weather", """{"city":"Oslo"}"""), (output[1]!["type"]!.GetValue<string>(), output[1]!["call_id"]!.GetValue<string>(), output[1]!["name"]!.GetValue<string>(), output[1]!["arguments"]!.GetValue<string>()));
        Assert.Equal((10, 9), (completed["usage"]!["input_tokens"]!.GetValue<int>(), completed["usage"]!["output_tokens"]!.GetValue<int>()));
        var retrieved = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: completed["id"]!.GetValue<string>(), apiKey: key);
        Assert.True(retrieved.Ok, retrieved.ToString());
        Assert.Equal(completed.ToJsonString(), retrieved.Result!.ToJsonString());
    }

    [Fact(Timeout = 120_000)]
    public async Task A_stream_cut_mid_answer_ends_with_response_failed_and_is_not_stored()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk(null, role: true));
            // Then the stream ends without a finish or [DONE]: a close, not a reset, so "Hel" is never lost in the race.
            await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("Hel"));
        };
        using var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, TestContext.Current.CancellationToken);
        var v1 = new Uri(host.TcpAddress, "v1");

        var stream = await OpenAiNodeClient.CallAsync(v1, "responses", Create("tiny", "hi", new JsonObject { ["stream"] = true }), key);

        Assert.True(stream.Ok, stream.ToString());
        var last = stream.Events[^1]!;
        Assert.Equal("response.failed", last["type"]!.GetValue<string>());
        Assert.Equal(("failed", "stream_failed"), (last["response"]!["status"]!.GetValue<string>(), last["response"]!["error"]!["code"]!.GetValue<string>()));
        Assert.Contains("(request req_", last["response"]!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(stream.Events, e => e!["type"]!.GetValue<string>() == "response.output_text.delta");
        var retrieved = await OpenAiNodeClient.CallAsync(v1, "responses.retrieve", path: last["response"]!["id"]!.GetValue<string>(), apiKey: key);
        Assert.Equal(404, retrieved.Status);
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// Anthropic both ways: an OpenAI client served by a fake Anthropic Messages API (a real HTTP server speaking its wire
/// format and SSE events), and /v1/messages clients served by an OpenAI-compatible upstream.
/// </summary>
public sealed class AnthropicTests
{
    private const string KeyVariable = "ULLM_TEST_ANTHROPIC_KEY";

    [Fact]
    public async Task Chat_is_translated_to_messages_and_back_with_system_tools_and_usage()
    {
        await using var anthropic = await FakeUpstream.StartAsync();
        anthropic.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, JsonNode.Parse("""
            {"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
             "content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Oslo"}}],
             "stop_reason":"tool_use","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}}
            """)!);
        Environment.SetEnvironmentVariable(KeyVariable, "sk-ant-secret");
        await using var host = await GatewayHost.StartAsync(Provider(anthropic), new StaticModelEndpoints());

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", """
            {"model":"claude/claude-x","max_tokens":100,"temperature":1.5,"tool_choice":"required",
             "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather?"},
                         {"role":"assistant","content":null,"tool_calls":[{"id":"t0","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Bergen\"}"}}]},
                         {"role":"tool","tool_call_id":"t0","content":"rain"},{"role":"tool","tool_call_id":"t0b","content":"wind"}],
             "tools":[{"type":"function","function":{"name":"weather","description":"d","parameters":{"type":"object"}}}]}
            """));

        Assert.Equal(200, status);
        var sent = anthropic.Requests.Single();
        Assert.Equal("/v1/messages", sent.Path);
        Assert.Equal("sk-ant-secret", sent.Headers["x-api-key"]);
        Assert.Equal(AnthropicClient.ApiVersion, sent.Headers["anthropic-version"]);
        Assert.Equal("Be brief.", sent.Body["system"]!.GetValue<string>());
        Assert.Equal(1.0, sent.Body["temperature"]!.GetValue<double>());
        Assert.Equal("any", sent.Body["tool_choice"]!["type"]!.GetValue<string>());
        Assert.Equal("object", sent.Body["tools"]![0]!["input_schema"]!["type"]!.GetValue<string>());
        var messages = sent.Body["messages"]!.AsArray();
        Assert.Equal(["user", "assistant", "user"], messages.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal("Bergen", messages[1]!["content"]![0]!["input"]!["city"]!.GetValue<string>());
        Assert.Equal(["t0", "t0b"], messages[2]!["content"]!.AsArray().Select(b => b!["tool_use_id"]!.GetValue<string>()));

        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("Let me check.", choice.GetProperty("message").GetProperty("content").GetString());
        var call = choice.GetProperty("message").GetProperty("tool_calls")[0];
        Assert.Equal("""{"city":"Oslo"}""", call.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal(15, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(7, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Anthropic_stream_events_become_openai_chunks_with_our_tool_index_and_usage()
    {
        await using var anthropic = await FakeUpstream.StartAsync();
        anthropic.Handler = async (c, _) =>
        {
            await FakeUpstream.StartSseAsync(c);
            async Task Send(string name, string json) => await FakeUpstream.SendAsync(c, JsonNode.Parse(json)!, name);
            await Send("message_start", """{"type":"message_start","message":{"id":"msg_2","model":"claude-x","usage":{"input_tokens":12,"output_tokens":1}}}""");
            await Send("ping", """{"type":"ping"}""");
            await Send("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}""");
            await Send("content_block_stop", """{"type":"content_block_stop","index":0}""");
            await Send("content_block_start", """{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"f","input":{}}}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}""");
            await Send("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}""");
            await Send("content_block_stop", """{"type":"content_block_stop","index":1}""");
            await Send("message_delta", """{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}""");
            await Send("message_stop", """{"type":"message_stop"}""");
        };
        Environment.SetEnvironmentVariable(KeyVariable, "sk-ant-secret");
        await using var host = await GatewayHost.StartAsync(Provider(anthropic), new StaticModelEndpoints());

        var events = await StreamingProxyTests.StreamAsync(host.Unix, Http.Chat("claude/claude-x", stream: true, extra: ""","stream_options":{"include_usage":true}"""));

        var chunks = events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal("Hi", chunks[1].GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString());
        var toolStart = chunks[2].GetProperty("choices")[0].GetProperty("delta").GetProperty("tool_calls")[0];
        Assert.Equal((0, "toolu_9", "f"), (toolStart.GetProperty("index").GetInt32(), toolStart.GetProperty("id").GetString(), toolStart.GetProperty("function").GetProperty("name").GetString()));
        var arguments = string.Concat(chunks.Skip(3).Take(2).Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("arguments").GetString()));
        Assert.Equal("""{"a":1}""", arguments);
        Assert.Equal("tool_calls", chunks[5].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal((12, 9), (chunks[6].GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), chunks[6].GetProperty("usage").GetProperty("completion_tokens").GetInt32()));
        Assert.Equal("[DONE]", events[^1].Data);
    }

    [Fact]
    public async Task Anthropic_529_overloaded_falls_back_and_a_missing_key_is_named_without_its_value()
    {
        await using var anthropic = await FakeUpstream.StartAsync();
        anthropic.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, JsonNode.Parse("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""")!, 529);
        await using var local = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", local.BaseAddress, "tiny.gguf");
        Environment.SetEnvironmentVariable(KeyVariable, "sk-ant-secret");
        await using var host = await GatewayHost.StartAsync(Provider(anthropic) + "\n[router.fallback]\n\"claude/claude-x\" = [\"tiny\"]\n", models);

        var (status, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("claude/claude-x")));
        Assert.Equal(200, status);
        Assert.Single(local.Requests);

        Environment.SetEnvironmentVariable(KeyVariable, null);
        var (missing, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("claude/claude-x")));
        Environment.SetEnvironmentVariable(KeyVariable, "sk-ant-secret");
        Assert.Equal(200, missing);
        Assert.Equal(2, local.Requests.Count);
        Assert.DoesNotContain("sk-ant", body.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_endpoint_round_trips_through_an_openai_upstream_with_and_without_streaming()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => body["stream"]?.GetValue<bool>() == true
            ? FakeUpstream.StreamAsync(c, "Hel", "lo")
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("Hello", prompt: 9, completion: 2));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        const string Request = """{"model":"tiny","max_tokens":50,"system":"Be kind.","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}""";

        var (status, message, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/messages", Request));
        Assert.Equal(200, status);
        Assert.Equal(("message", "assistant", "end_turn"), (message.GetProperty("type").GetString(), message.GetProperty("role").GetString(), message.GetProperty("stop_reason").GetString()));
        Assert.Equal("Hello", message.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal((9, 2), (message.GetProperty("usage").GetProperty("input_tokens").GetInt32(), message.GetProperty("usage").GetProperty("output_tokens").GetInt32()));
        var forwarded = upstream.Requests.First().Body;
        Assert.Equal("system", forwarded["messages"]![0]!["role"]!.GetValue<string>());
        Assert.Equal(50, forwarded["max_tokens"]!.GetValue<int>());

        var ct = TestContext.Current.CancellationToken;
        using var request = Http.Post("/v1/messages", Request.Replace("\"max_tokens\":50", "\"max_tokens\":50,\"stream\":true", StringComparison.Ordinal));
        using var response = await host.Unix.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync(ct));
        var events = await sse.RestAsync(ct);
        Assert.Equal(
            ["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            events.Select(e => e.Event));
        Assert.Equal("Hello", string.Concat(events.Where(e => e.Event == "content_block_delta").Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("text").GetString())));
        var delta = JsonDocument.Parse(events[5].Data).RootElement;
        Assert.Equal("end_turn", delta.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(2, delta.GetProperty("usage").GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Messages_endpoint_answers_errors_in_anthropic_format()
    {
        await using var host = await GatewayHost.StartAsync("", new StaticModelEndpoints());

        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/messages", """{"model":"x","max_tokens":5}"""));

        Assert.Equal(400, status);
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("'messages'", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static string Provider(FakeUpstream anthropic) => $"""
        # Callers without a key (the unix socket's here) reach providers only with this (#21).
        [security]
        anonymous_providers = true

        [providers.claude]
        kind = "anthropic"
        base_url = "{anthropic.BaseAddress.AbsoluteUri}v1"
        api_key_env = "{KeyVariable}"
        models = ["claude-x"]
        """;

}

using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gateway.Responses;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>The pure halves of /v1/responses: a Responses request → a chat request, and chat answers and chunks → a response object and stream events.</summary>
public sealed class ResponsesTranslationTests
{
    private static ResponseDraft Draft(JsonObject body) =>
        new("resp_abc", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), ResponsesRequest.Parse(body), store: true);

    [Fact]
    public void A_string_input_with_instructions_and_options_becomes_a_chat_request()
    {
        var request = ResponsesRequest.Parse(new JsonObject
        {
            ["model"] = "tiny",
            ["input"] = "hello",
            ["instructions"] = "be brief",
            ["temperature"] = 0.2,
            ["top_p"] = 0.9,
            ["max_output_tokens"] = 50,
            ["metadata"] = new JsonObject { ["ticket"] = "42" },
            ["text"] = new JsonObject
            {
                ["format"] = new JsonObject { ["type"] = "json_schema", ["name"] = "answer", ["schema"] = new JsonObject { ["type"] = "object" }, ["strict"] = true },
            },
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["name"] = "lookup", ["parameters"] = new JsonObject { ["type"] = "object" } }),
            ["tool_choice"] = new JsonObject { ["type"] = "function", ["name"] = "lookup" },
            ["stream"] = true,
        });

        var chat = ResponsesTranslator.ToChat(request, []);

        Assert.Equal(
            """{"model":"tiny","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}],"temperature":0.2,"top_p":0.9,"max_tokens":50"""
            + ""","tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"lookup"}}"""
            + ""","response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}},"stream":true,"stream_options":{"include_usage":true}}""",
            chat.ToJsonString());
        Assert.Equal("42", request.Metadata["ticket"]!.GetValue<string>());
    }

    [Fact]
    public void Items_with_an_image_a_function_call_and_its_output_follow_the_history()
    {
        var request = ResponsesRequest.Parse(JsonNode.Parse("""
            {"model":"m","input":[
              {"role":"user","content":[{"type":"input_text","text":"what is "},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
              {"type":"function_call","call_id":"call_1","name":"see","arguments":"{\"x\":1}"},
              {"type":"function_call","call_id":"call_2","name":"see","arguments":"{}"},
              {"type":"function_call_output","call_id":"call_1","output":"a cat"},
              {"type":"reasoning","summary":[]},
              {"type":"message","role":"developer","content":[{"type":"input_text","text":"answer in French"}]}
            ]}
            """)!.AsObject());
        JsonNode[] history =
        [
            JsonNode.Parse("""{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}""")!,
            JsonNode.Parse("""{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello","annotations":[]}]}""")!,
        ];

        var messages = ResponsesTranslator.ToChat(request, history)["messages"]!.ToJsonString();

        Assert.Equal(
            """[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},"""
            + """{"role":"user","content":[{"type":"text","text":"what is "},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},"""
            + """{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"see","arguments":"{\u0022x\u0022:1}"}},"""
            + """{"id":"call_2","type":"function","function":{"name":"see","arguments":"{}"}}]},"""
            + """{"role":"tool","tool_call_id":"call_1","content":"a cat"},{"role":"system","content":"answer in French"}]""",
            messages);
    }

    [Theory]
    [InlineData("""{"input":"x"}""", "model")]
    [InlineData("""{"model":"m"}""", "input")]
    [InlineData("""{"model":"m","input":[{"type":"item_reference","id":"x"}]}""", "input[0].type")]
    [InlineData("""{"model":"m","input":[{"role":"robot","content":"x"}]}""", "input[0].role")]
    [InlineData("""{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}""", "input[0].content[0].type")]
    [InlineData("""{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}""", "input[0].content[0].image_url")]
    [InlineData("""{"model":"m","input":[{"type":"function_call_output","output":"x"}]}""", "input[0].call_id")]
    [InlineData("""{"model":"m","input":"x","tools":[{"type":"web_search_preview"}]}""", "tools[0].type")]
    [InlineData("""{"model":"m","input":"x","tool_choice":"sometimes"}""", "tool_choice")]
    [InlineData("""{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"a"}}}""", "text.format.schema")]
    [InlineData("""{"model":"m","input":"x","temperature":3}""", "temperature")]
    [InlineData("""{"model":"m","input":"x","max_output_tokens":0}""", "max_output_tokens")]
    [InlineData("""{"model":"m","input":"x","metadata":{"a":1}}""", "metadata.a")]
    [InlineData("""{"model":"m","input":"x","stream":"yes"}""", "stream")]
    [InlineData("""{"model":"m","input":"x","previous_response_id":7}""", "previous_response_id")]
    [InlineData("""{"model":"m","input":"x","background":true}""", "background")]
    public void Bad_input_names_the_field(string body, string field)
    {
        var e = Assert.Throws<GatewayException>(() => ResponsesTranslator.ToChat(ResponsesRequest.Parse(JsonNode.Parse(body)!.AsObject()), []));

        Assert.Equal(400, e.StatusCode);
        Assert.Equal(field, e.Param);
        Assert.StartsWith($"'{field}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_completion_with_text_and_a_tool_call_cut_at_the_limit_is_an_incomplete_response()
    {
        var draft = Draft(new JsonObject { ["model"] = "tiny", ["input"] = "hi", ["max_output_tokens"] = 3 });
        var completion = JsonNode.Parse("""
            {"choices":[{"index":0,"message":{"role":"assistant","content":"Let me look",
              "tool_calls":[{"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"q\":"}}]},"finish_reason":"length"}],
             "usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}
            """)!;

        var response = draft.FromCompletion(completion);

        Assert.Equal("incomplete", response["status"]!.GetValue<string>());
        Assert.Equal("max_output_tokens", response["incomplete_details"]!["reason"]!.GetValue<string>());
        Assert.Equal("resp_abc", response["id"]!.GetValue<string>());
        Assert.Equal("tiny", response["model"]!.GetValue<string>());
        Assert.Equal(3, response["max_output_tokens"]!.GetValue<long>());
        var output = response["output"]!.AsArray();
        Assert.Equal("message", output[0]!["type"]!.GetValue<string>());
        Assert.Equal("Let me look", output[0]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Equal("function_call", output[1]!["type"]!.GetValue<string>());
        Assert.Equal("call_9", output[1]!["call_id"]!.GetValue<string>());
        Assert.Equal("{\"q\":", output[1]!["arguments"]!.GetValue<string>());
        Assert.NotEqual(output[0]!["id"]!.GetValue<string>(), output[1]!["id"]!.GetValue<string>());
        Assert.Equal("""{"input_tokens":7,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":10}""", response["usage"]!.ToJsonString());
    }

    [Fact]
    public void Chunks_become_the_documented_events_in_order()
    {
        var stream = new ResponseStream(Draft(new JsonObject { ["model"] = "tiny", ["input"] = "hi", ["stream"] = true }));
        var events = stream.Start();
        events.AddRange(stream.Chunk(Chunk("""{"role":"assistant","content":""}""")));
        events.AddRange(stream.Chunk(Chunk("""{"content":"Hel"}""")));
        events.AddRange(stream.Chunk(Chunk("""{"content":"lo"}""")));
        events.AddRange(stream.Chunk(Chunk("""{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}""")));
        events.AddRange(stream.Chunk(Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}""")));
        events.AddRange(stream.Chunk(Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}""", "tool_calls")));
        events.AddRange(stream.Chunk(JsonNode.Parse("""{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":6}}""")!));
        events.AddRange(stream.Finish());

        Assert.Equal(
            [
                "response.created", "response.in_progress",
                "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
                "response.output_text.done", "response.content_part.done", "response.output_item.done",
                "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                "response.function_call_arguments.done", "response.output_item.done", "response.completed",
            ],
            events.Select(e => e["type"]!.GetValue<string>()));
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e["sequence_number"]!.GetValue<int>()));
        Assert.Equal("Hello", events[6]["text"]!.GetValue<string>());
        Assert.Equal("{\"a\":1}", events[12]["arguments"]!.GetValue<string>());
        Assert.Equal(1, events[12]["output_index"]!.GetValue<int>());
        var final = events[^1]["response"]!;
        Assert.Equal("completed", final["status"]!.GetValue<string>());
        Assert.Equal(10, final["usage"]!["total_tokens"]!.GetValue<long>());
        Assert.Equal("call_1", final["output"]![1]!["call_id"]!.GetValue<string>());
        Assert.Equal(stream.Final!.ToJsonString(), final.ToJsonString());
    }

    [Fact]
    public void A_stream_cut_at_the_token_limit_ends_incomplete_and_a_failure_names_the_error()
    {
        var draft = Draft(new JsonObject { ["model"] = "tiny", ["input"] = "hi", ["stream"] = true });
        var cut = new ResponseStream(draft);
        cut.Start();
        cut.Chunk(Chunk("""{"content":"a"}""", "length"));
        var failing = new ResponseStream(draft);
        failing.Start();

        var last = cut.Finish()[^1];
        var failed = failing.Fail(new GatewayException(502, "upstream went away", code: "stream_failed"));

        Assert.Equal("response.incomplete", last["type"]!.GetValue<string>());
        Assert.Equal("max_output_tokens", last["response"]!["incomplete_details"]!["reason"]!.GetValue<string>());
        Assert.Equal("response.failed", failed["type"]!.GetValue<string>());
        Assert.Equal("failed", failed["response"]!["status"]!.GetValue<string>());
        Assert.Equal("stream_failed", failed["response"]!["error"]!["code"]!.GetValue<string>());
        Assert.Equal(2, failed["sequence_number"]!.GetValue<int>());
    }

    [Fact]
    public void The_context_estimate_counts_four_bytes_a_token_and_four_a_message()
    {
        var messages = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = new string('a', 40) },
            new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "é" }, new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = new string('x', 4000) } }) },
            new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = null,
                ["tool_calls"] = new JsonArray(new JsonObject { ["function"] = new JsonObject { ["name"] = "abcd", ["arguments"] = "{}" } }),
            });

        // 40 + 2 (é) + 4 + 2 bytes → 12 tokens, and 3 × 4 for the messages.
        Assert.Equal(24, ContextEstimate.Tokens(messages));
    }

    private static JsonNode Chunk(string delta, string? finish = null) =>
        JsonNode.Parse($$"""{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{{delta}},"finish_reason":{{(finish is null ? "null" : $"\"{finish}\"")}}}]}""")!;
}

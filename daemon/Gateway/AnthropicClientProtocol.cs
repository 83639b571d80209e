using System.Buffers;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Answers /v1/messages in Anthropic's format: OpenAI completions become messages, and OpenAI chunks become message_start,
/// content_block_start/delta/stop, message_delta (stop reason, output tokens) and message_stop events. One per request: it
/// keeps the stream's state.
/// </summary>
internal sealed class AnthropicClientProtocol : IClientProtocol
{
    private string id = "";
    private string model = "";
    private bool started;
    private int blockIndex = -1;
    private string? openBlock;
    private int openToolIndex = -1;
    private string? stopReason;
    private long inputTokens;
    private long outputTokens;

    public NativeApi? Native => null;

    public Task WriteErrorAsync(HttpContext context, GatewayException error)
    {
        var body = NodeJson.Utf8(ErrorObject(error));
        return OpenAiErrors.WriteAsync(context, error, body);
    }

    public async Task WriteResponseAsync(HttpContext context, byte[] openAiBody)
    {
        var completion = JsonNode.Parse(openAiBody)!;
        var choice = completion["choices"]?[0];
        var content = new JsonArray();
        if (choice?["message"]?["content"]?.GetValue<string>() is { Length: > 0 } text)
        {
            content.Add((JsonNode)new JsonObject { ["type"] = "text", ["text"] = text });
        }

        foreach (var call in choice?["message"]?["tool_calls"]?.AsArray() ?? [])
        {
            content.Add((JsonNode)new JsonObject
            {
                ["type"] = "tool_use",
                ["id"] = call?["id"]?.DeepClone(),
                ["name"] = call?["function"]?["name"]?.DeepClone(),
                ["input"] = JsonNode.Parse(call?["function"]?["arguments"]?.GetValue<string>() is { Length: > 0 } a ? a : "{}"),
            });
        }

        var message = new JsonObject
        {
            ["id"] = completion["id"]?.DeepClone(),
            ["type"] = "message",
            ["role"] = "assistant",
            ["model"] = completion["model"]?.DeepClone(),
            ["content"] = content,
            ["stop_reason"] = StopReason(choice?["finish_reason"]?.GetValue<string>()),
            ["stop_sequence"] = null,
            ["usage"] = new JsonObject
            {
                ["input_tokens"] = completion["usage"]?["prompt_tokens"]?.GetValue<long>() ?? 0,
                ["output_tokens"] = completion["usage"]?["completion_tokens"]?.GetValue<long>() ?? 0,
            },
        };
        await ClientResponse.WriteJsonAsync(context, message);
    }

    public Task BeginStreamAsync(HttpContext context) => ClientResponse.BeginEventStreamAsync(context);

    public void WriteChunk(HttpContext context, ReadOnlyMemory<byte> openAiChunk)
    {
        var chunk = JsonNode.Parse(openAiChunk.Span)!;
        id = chunk["id"]?.GetValue<string>() ?? id;
        model = chunk["model"]?.GetValue<string>() ?? model;
        if (chunk["usage"] is JsonObject usage)
        {
            inputTokens = usage["prompt_tokens"]?.GetValue<long>() ?? inputTokens;
            outputTokens = usage["completion_tokens"]?.GetValue<long>() ?? outputTokens;
        }

        Start(context);
        foreach (var choice in chunk["choices"]?.AsArray() ?? [])
        {
            var delta = choice?["delta"];
            if (delta?["content"]?.GetValue<string>() is { Length: > 0 } text)
            {
                OpenBlock(context, "text", -1, new JsonObject { ["type"] = "text", ["text"] = "" });
                Event(context, "content_block_delta", new JsonObject
                {
                    ["type"] = "content_block_delta",
                    ["index"] = blockIndex,
                    ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = text },
                });
            }

            foreach (var call in delta?["tool_calls"]?.AsArray() ?? [])
            {
                var toolIndex = call?["index"]?.GetValue<int>() ?? 0;
                if (openBlock != "tool_use" || toolIndex != openToolIndex)
                {
                    OpenBlock(context, "tool_use", toolIndex, new JsonObject
                    {
                        ["type"] = "tool_use",
                        ["id"] = call?["id"]?.DeepClone(),
                        ["name"] = call?["function"]?["name"]?.DeepClone(),
                        ["input"] = new JsonObject(),
                    });
                }

                if (call?["function"]?["arguments"]?.GetValue<string>() is { Length: > 0 } arguments)
                {
                    Event(context, "content_block_delta", new JsonObject
                    {
                        ["type"] = "content_block_delta",
                        ["index"] = blockIndex,
                        ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = arguments },
                    });
                }
            }

            if (choice?["finish_reason"]?.GetValue<string>() is { } finish)
            {
                stopReason = StopReason(finish);
            }
        }
    }

    public async Task EndStreamAsync(HttpContext context)
    {
        Start(context);
        CloseBlock(context);
        Event(context, "message_delta", new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = stopReason ?? "end_turn", ["stop_sequence"] = null },
            ["usage"] = new JsonObject { ["output_tokens"] = outputTokens },
        });
        Event(context, "message_stop", new JsonObject { ["type"] = "message_stop" });
        await ClientStream.FlushAsync(context);
    }

    public async Task FailStreamAsync(HttpContext context, GatewayException error)
    {
        Event(context, "error", ErrorObject(error));
        await ClientStream.FlushAsync(context);
    }

    private void Start(HttpContext context)
    {
        if (started)
        {
            return;
        }

        started = true;
        Event(context, "message_start", new JsonObject
        {
            ["type"] = "message_start",
            ["message"] = new JsonObject
            {
                ["id"] = id,
                ["type"] = "message",
                ["role"] = "assistant",
                ["model"] = model,
                ["content"] = new JsonArray(),
                ["stop_reason"] = null,
                ["stop_sequence"] = null,
                ["usage"] = new JsonObject { ["input_tokens"] = inputTokens, ["output_tokens"] = 0 },
            },
        });
    }

    private void OpenBlock(HttpContext context, string type, int toolIndex, JsonObject block)
    {
        if (openBlock == type && (type == "text" || toolIndex == openToolIndex))
        {
            return;
        }

        CloseBlock(context);
        blockIndex++;
        openBlock = type;
        openToolIndex = toolIndex;
        Event(context, "content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = blockIndex, ["content_block"] = block });
    }

    private void CloseBlock(HttpContext context)
    {
        if (openBlock is null)
        {
            return;
        }

        openBlock = null;
        Event(context, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = blockIndex });
    }

    private static void Event(HttpContext context, string name, JsonObject data)
    {
        var writer = context.Response.BodyWriter;
        writer.Write(System.Text.Encoding.UTF8.GetBytes($"event: {name}\ndata: "));
        writer.Write(NodeJson.Utf8(data));
        writer.Write("\n\n"u8);
    }

    private static string StopReason(string? finishReason) => finishReason switch
    {
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    };

    private static JsonObject ErrorObject(GatewayException error) => new()
    {
        ["type"] = "error",
        ["error"] = new JsonObject
        {
            ["type"] = error.StatusCode switch
            {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                503 => "overloaded_error",
                >= 500 => "api_error",
                _ => "invalid_request_error",
            },
            ["message"] = error.Message,
        },
    };
}

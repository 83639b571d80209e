using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>POST /v1/messages: an Anthropic Messages request → an OpenAI chat completion request for the same pipeline.</summary>
internal static class AnthropicInboundTranslator
{
    public static JsonObject ToOpenAi(JsonObject request)
    {
        var messages = new JsonArray();
        switch (request["system"])
        {
            case null:
                break;
            case JsonValue text when Text(text) is { } system:
                messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = system });
                break;
            case JsonArray blocks:
                messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = string.Concat(blocks.Select((b, i) => BlockText(b, $"system[{i}]"))) });
                break;
            default:
                throw GatewayException.BadField("system", "must be a string or an array of text blocks");
        }

        if (request["messages"] is not JsonArray { Count: > 0 } input)
        {
            throw GatewayException.BadField("messages", "must be a non-empty array of messages");
        }

        for (var i = 0; i < input.Count; i++)
        {
            if (input[i] is not JsonObject message || Text(message["role"]) is not ("user" or "assistant"))
            {
                throw GatewayException.BadField($"messages[{i}].role", "must be 'user' or 'assistant'");
            }

            AddMessage(messages, message, i);
        }

        var result = new JsonObject { ["model"] = request["model"]?.DeepClone(), ["messages"] = messages };
        foreach (var (from, to) in new[] { ("max_tokens", "max_tokens"), ("temperature", "temperature"), ("top_p", "top_p"), ("stream", "stream"), ("stop_sequences", "stop") })
        {
            if (request[from] is { } value)
            {
                result[to] = value.DeepClone();
            }
        }

        if (request["stream"] is JsonValue stream && stream.TryGetValue(out bool streaming) && streaming)
        {
            // message_delta carries the output tokens, so the usage chunk is always needed.
            result["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        if (request["tools"] is JsonArray tools)
        {
            result["tools"] = new JsonArray([.. tools.Select((t, i) => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = t is JsonObject tool
                    ? new JsonObject
                    {
                        ["name"] = tool["name"]?.DeepClone(),
                        ["description"] = tool["description"]?.DeepClone(),
                        ["parameters"] = tool["input_schema"]?.DeepClone(),
                    }
                    : throw GatewayException.BadField($"tools[{i}]", "must be an object with a name"),
            })]);
        }

        if (request["tool_choice"] is JsonObject choice)
        {
            result["tool_choice"] = Text(choice["type"]) switch
            {
                "any" => "required",
                "none" => "none",
                "tool" => new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = choice["name"]?.DeepClone() } },
                _ => "auto",
            };
        }

        return result;
    }

    private static void AddMessage(JsonArray messages, JsonObject message, int index)
    {
        var role = Text(message["role"]);
        if (message["content"] is JsonValue value && Text(value) is { } text)
        {
            messages.Add((JsonNode)new JsonObject { ["role"] = role, ["content"] = text });
            return;
        }

        if (message["content"] is not JsonArray blocks)
        {
            throw GatewayException.BadField($"messages[{index}].content", "must be a string or an array of content blocks");
        }

        var parts = new JsonArray();
        var toolCalls = new JsonArray();
        for (var b = 0; b < blocks.Count; b++)
        {
            var where = $"messages[{index}].content[{b}]";
            var block = blocks[b] as JsonObject ?? throw GatewayException.BadField(where, "must be a content block object");
            switch (Text(block["type"]))
            {
                case "text":
                    parts.Add((JsonNode)new JsonObject { ["type"] = "text", ["text"] = block["text"]?.DeepClone() });
                    break;
                case "image":
                    var source = block["source"] as JsonObject;
                    var url = Text(source?["type"]) == "base64" && Text(source!["media_type"]) is { } mediaType && Text(source["data"]) is { } data
                        ? $"data:{mediaType};base64,{data}"
                        : Text(source?["url"]) ?? throw GatewayException.BadField($"{where}.source", "must be base64 data with its media_type, or a url");
                    parts.Add((JsonNode)new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = url } });
                    break;
                case "tool_use":
                    toolCalls.Add((JsonNode)new JsonObject
                    {
                        ["id"] = block["id"]?.DeepClone(),
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = block["name"]?.DeepClone(), ["arguments"] = block["input"]?.ToJsonString() ?? "{}" },
                    });
                    break;
                case "tool_result":
                    var content = block["content"] switch
                    {
                        null => "",
                        JsonArray resultBlocks => string.Concat(resultBlocks.Select((r, i) => BlockText(r, $"{where}.content[{i}]"))),
                        var other => Text(other) ?? throw GatewayException.BadField($"{where}.content", "must be a string or an array of text blocks"),
                    };
                    messages.Add((JsonNode)new JsonObject { ["role"] = "tool", ["tool_call_id"] = block["tool_use_id"]?.DeepClone(), ["content"] = content });
                    break;
                default:
                    throw GatewayException.BadField($"{where}.type", $"content block type '{block["type"]}' is not supported");
            }
        }

        if (parts.Count > 0 || toolCalls.Count > 0)
        {
            var converted = new JsonObject { ["role"] = role, ["content"] = parts.Count > 0 ? parts : null };
            if (toolCalls.Count > 0)
            {
                converted["tool_calls"] = toolCalls;
            }

            messages.Add((JsonNode)converted);
        }
    }

    /// <summary>The node's text when it is a JSON string; null for anything else (a number, an object, missing).</summary>
    private static string? Text(JsonNode? node)
    {
        try
        {
            return node is JsonValue value && value.TryGetValue(out string? text) ? text : null;
        }
        catch (InvalidOperationException)
        {
            // The bytes are valid UTF-8 (RequestBody checked); an escape such as "\ud800" is not a whole character.
            throw GatewayException.BadField(node!.GetPath().TrimStart('$').TrimStart('.'), "is not valid Unicode (an unpaired surrogate escape)");
        }
    }

    /// <summary>A text block's text, where only text blocks may stand.</summary>
    private static string BlockText(JsonNode? block, string where) =>
        Text((block as JsonObject)?["text"]) ?? throw GatewayException.BadField(where, "must be a text block with a string text");
}

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
            case JsonValue text:
                messages.Add(new JsonObject { ["role"] = "system", ["content"] = text.DeepClone() });
                break;
            case JsonArray blocks:
                messages.Add(new JsonObject { ["role"] = "system", ["content"] = string.Concat(blocks.Select(b => b?["text"]?.GetValue<string>())) });
                break;
        }

        if (request["messages"] is not JsonArray { Count: > 0 } input)
        {
            throw GatewayException.BadField("messages", "must be a non-empty array of messages");
        }

        for (var i = 0; i < input.Count; i++)
        {
            if (input[i] is not JsonObject message || message["role"]?.GetValue<string>() is not ("user" or "assistant"))
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
            result["tools"] = new JsonArray([.. tools.Select(t => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = t?["name"]?.DeepClone(),
                    ["description"] = t?["description"]?.DeepClone(),
                    ["parameters"] = t?["input_schema"]?.DeepClone(),
                },
            })]);
        }

        if (request["tool_choice"] is JsonObject choice)
        {
            result["tool_choice"] = choice["type"]?.GetValue<string>() switch
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
        var role = message["role"]!.GetValue<string>();
        if (message["content"] is JsonValue text)
        {
            messages.Add(new JsonObject { ["role"] = role, ["content"] = text.DeepClone() });
            return;
        }

        if (message["content"] is not JsonArray blocks)
        {
            throw GatewayException.BadField($"messages[{index}].content", "must be a string or an array of content blocks");
        }

        var parts = new JsonArray();
        var toolCalls = new JsonArray();
        foreach (var block in blocks)
        {
            switch (block?["type"]?.GetValue<string>())
            {
                case "text":
                    parts.Add(new JsonObject { ["type"] = "text", ["text"] = block["text"]?.DeepClone() });
                    break;
                case "image":
                    var source = block["source"];
                    var url = source?["type"]?.GetValue<string>() == "base64"
                        ? $"data:{source["media_type"]};base64,{source["data"]}"
                        : source?["url"]?.GetValue<string>();
                    parts.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = url } });
                    break;
                case "tool_use":
                    toolCalls.Add(new JsonObject
                    {
                        ["id"] = block["id"]?.DeepClone(),
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = block["name"]?.DeepClone(), ["arguments"] = block["input"]?.ToJsonString() ?? "{}" },
                    });
                    break;
                case "tool_result":
                    var content = block["content"] is JsonArray resultBlocks
                        ? string.Concat(resultBlocks.Select(b => b?["text"]?.GetValue<string>()))
                        : block["content"]?.GetValue<string>() ?? "";
                    messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = block["tool_use_id"]?.DeepClone(), ["content"] = content });
                    break;
                default:
                    throw GatewayException.BadField($"messages[{index}].content", $"content block type '{block?["type"]}' is not supported");
            }
        }

        if (parts.Count > 0 || toolCalls.Count > 0)
        {
            var converted = new JsonObject { ["role"] = role, ["content"] = parts.Count > 0 ? parts : null };
            if (toolCalls.Count > 0)
            {
                converted["tool_calls"] = toolCalls;
            }

            messages.Add(converted);
        }
    }
}

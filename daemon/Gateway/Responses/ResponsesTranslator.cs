using System.Text;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// A Responses request → an OpenAI chat completion request for the same pipeline as /v1/chat/completions: instructions
/// become the system message, the earlier turns of a previous_response_id chain and the input items become messages,
/// function tools and tool_choice keep their meaning, text.format becomes response_format, max_output_tokens max_tokens.
/// </summary>
internal static class ResponsesTranslator
{
    /// <summary>The chat request for <paramref name="request"/> after <paramref name="history"/> (the chain's input and output items, oldest first).</summary>
    public static JsonObject ToChat(ResponsesRequest request, IReadOnlyList<JsonNode> history)
    {
        var messages = new JsonArray();
        if (request.Instructions is { } instructions)
        {
            messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = instructions });
        }

        AddItems(messages, history, "previous_response_id");
        AddItems(messages, request.Input, "input");
        if (messages.Count == 0)
        {
            throw GatewayException.BadField("input", "has no message to answer");
        }

        var body = request.Body;
        var chat = new JsonObject { ["model"] = request.Model, ["messages"] = messages };
        foreach (var field in new[] { "temperature", "top_p", "parallel_tool_calls", "user" })
        {
            if (body[field] is { } value)
            {
                chat[field] = value.DeepClone();
            }
        }

        if (request.MaxOutputTokens is { } max)
        {
            chat["max_tokens"] = max;
        }

        if (Tools(body["tools"]) is { } tools)
        {
            chat["tools"] = tools;
        }

        if (body["tool_choice"] is { } choice)
        {
            chat["tool_choice"] = ToolChoice(choice);
        }

        if (ResponseFormat(body["text"]) is { } format)
        {
            chat["response_format"] = format;
        }

        if (request.Stream)
        {
            chat["stream"] = true;
            // response.completed carries the usage, so the usage chunk is always needed.
            chat["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        return chat;
    }

    /// <summary>Checks a message item's role and content parts (called on the input before anything is stored).</summary>
    public static void CheckMessage(JsonObject item, string where)
    {
        _ = Role(item, where);
        _ = Content(item, where, assistant: false);
    }

    /// <summary>
    /// Items → chat messages, in order. Consecutive function_call items are one assistant message with several tool
    /// calls (chat completions' shape), joined to the assistant message just before them if there is one.
    /// </summary>
    private static void AddItems(JsonArray messages, IEnumerable<JsonNode?> items, string where)
    {
        var index = 0;
        foreach (var node in items)
        {
            var at = $"{where}[{index++}]";
            var item = (JsonObject)node!;
            switch (Json.Text(item["type"]))
            {
                case "message":
                    var role = Role(item, at);
                    messages.Add((JsonNode)new JsonObject { ["role"] = role, ["content"] = Content(item, at, role == "assistant") });
                    break;
                case "function_call":
                    var call = new JsonObject
                    {
                        ["id"] = Json.Text(item["call_id"]),
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = Json.Text(item["name"]), ["arguments"] = Json.Text(item["arguments"]) },
                    };
                    if (messages.Count > 0 && messages[^1] is JsonObject last && Json.Text(last["role"]) == "assistant")
                    {
                        if (last["tool_calls"] is not JsonArray calls)
                        {
                            calls = [];
                            last["tool_calls"] = calls;
                        }

                        calls.Add((JsonNode)call);
                    }
                    else
                    {
                        messages.Add((JsonNode)new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray(call) });
                    }

                    break;
                case "function_call_output":
                    messages.Add((JsonNode)new JsonObject
                    {
                        ["role"] = "tool",
                        ["tool_call_id"] = Json.Text(item["call_id"]),
                        ["content"] = item["output"] is JsonArray parts ? JoinText(parts, $"{at}.output") : Json.Text(item["output"]),
                    });
                    break;
            }
        }
    }

    private static string Role(JsonObject item, string where) => Json.Text(item["role"]) switch
    {
        "user" => "user",
        "assistant" => "assistant",
        "system" => "system",
        // Chat servers other than OpenAI's (llama.cpp, Ollama, vLLM templates) know no "developer" role.
        "developer" => "system",
        _ => throw GatewayException.BadField($"{where}.role", "must be 'user', 'assistant', 'system' or 'developer'"),
    };

    /// <summary>
    /// A message's content for chat completions: text as one string (what every chat template takes); with an image,
    /// an array of text and image_url parts.
    /// </summary>
    private static JsonNode Content(JsonObject item, string where, bool assistant)
    {
        if (Json.Text(item["content"]) is { } text)
        {
            return text;
        }

        if (item["content"] is not JsonArray parts)
        {
            throw GatewayException.BadField($"{where}.content", "must be a string or an array of content parts");
        }

        var converted = new JsonArray();
        var hasImage = false;
        for (var i = 0; i < parts.Count; i++)
        {
            var at = $"{where}.content[{i}]";
            var part = parts[i] as JsonObject ?? throw GatewayException.BadField(at, "must be a content part object");
            switch (Json.Text(part["type"]))
            {
                case "input_text" or "output_text" or "text":
                    converted.Add((JsonNode)new JsonObject { ["type"] = "text", ["text"] = Json.Text(part["text"]) ?? throw GatewayException.BadField($"{at}.text", "must be a string") });
                    break;
                case "refusal":
                    converted.Add((JsonNode)new JsonObject { ["type"] = "text", ["text"] = Json.Text(part["refusal"]) ?? throw GatewayException.BadField($"{at}.refusal", "must be a string") });
                    break;
                case "input_image" when !assistant:
                    var url = Json.Text(part["image_url"])
                        ?? throw GatewayException.BadField($"{at}.image_url", part["file_id"] is null
                            ? "is required (a URL or a data: URL)"
                            : "is required: ullmd has no Files API, so send the image as a data: URL instead of a file_id");
                    var image = new JsonObject { ["url"] = url };
                    if (Json.Text(part["detail"]) is { } detail)
                    {
                        image["detail"] = detail;
                    }

                    converted.Add((JsonNode)new JsonObject { ["type"] = "image_url", ["image_url"] = image });
                    hasImage = true;
                    break;
                default:
                    throw GatewayException.BadField($"{at}.type", $"content part type '{Json.Text(part["type"]) ?? "(none)"}' is not supported here (input_text, input_image, output_text)");
            }
        }

        return hasImage ? converted : string.Concat(converted.Select(p => (string)p!["text"]!));
    }

    private static string JoinText(JsonArray parts, string where)
    {
        var text = new StringBuilder();
        for (var i = 0; i < parts.Count; i++)
        {
            text.Append(Json.Text(parts[i]?["text"]) ?? throw GatewayException.BadField($"{where}[{i}]", "must be a text part"));
        }

        return text.ToString();
    }

    private static JsonArray? Tools(JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }

        if (node is not JsonArray tools)
        {
            throw GatewayException.BadField("tools", "must be an array of function tools");
        }

        var result = new JsonArray();
        for (var i = 0; i < tools.Count; i++)
        {
            var tool = tools[i] as JsonObject ?? throw GatewayException.BadField($"tools[{i}]", "must be a tool object");
            if (Json.Text(tool["type"]) != "function")
            {
                throw GatewayException.BadField($"tools[{i}].type", $"tool type '{Json.Text(tool["type"]) ?? "(none)"}' is not supported: ullmd translates function tools only");
            }

            var function = new JsonObject { ["name"] = Json.Text(tool["name"]) ?? throw GatewayException.BadField($"tools[{i}].name", "is required (a string)") };
            foreach (var field in new[] { "description", "parameters", "strict" })
            {
                if (tool[field] is { } value)
                {
                    function[field] = value.DeepClone();
                }
            }

            result.Add((JsonNode)new JsonObject { ["type"] = "function", ["function"] = function });
        }

        return result;
    }

    private static JsonNode ToolChoice(JsonNode choice)
    {
        if (Json.Text(choice) is { } mode)
        {
            return mode is "auto" or "none" or "required" ? mode : throw GatewayException.BadField("tool_choice", $"'{mode}' is not 'auto', 'none' or 'required'");
        }

        if (choice is JsonObject forced && Json.Text(forced["type"]) == "function" && Json.Text(forced["name"]) is { } name)
        {
            return new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name } };
        }

        throw GatewayException.BadField("tool_choice", "must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}");
    }

    private static JsonObject? ResponseFormat(JsonNode? text)
    {
        if (text is null)
        {
            return null;
        }

        if (text is not JsonObject options)
        {
            throw GatewayException.BadField("text", "must be an object");
        }

        if (options["format"] is null)
        {
            return null;
        }

        var format = options["format"] as JsonObject ?? throw GatewayException.BadField("text.format", "must be an object");
        switch (Json.Text(format["type"]))
        {
            case "text":
                return null;
            case "json_object":
                return new JsonObject { ["type"] = "json_object" };
            case "json_schema":
                var schema = new JsonObject
                {
                    ["name"] = Json.Text(format["name"]) ?? throw GatewayException.BadField("text.format.name", "is required (a string)"),
                    ["schema"] = format["schema"] is JsonObject s ? s.DeepClone() : throw GatewayException.BadField("text.format.schema", "is required (a JSON schema object)"),
                };
                foreach (var field in new[] { "description", "strict" })
                {
                    if (format[field] is { } value)
                    {
                        schema[field] = value.DeepClone();
                    }
                }

                return new JsonObject { ["type"] = "json_schema", ["json_schema"] = schema };
            default:
                throw GatewayException.BadField("text.format.type", "must be 'text', 'json_object' or 'json_schema'");
        }
    }
}

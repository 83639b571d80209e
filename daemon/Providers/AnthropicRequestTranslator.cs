using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>OpenAI chat completion request → Anthropic Messages request (field rules in docs: system, parts, tools, tool results).</summary>
internal static class AnthropicRequestTranslator
{
    /// <summary>Anthropic requires max_tokens; used when the client gave none.</summary>
    public const int DefaultMaxTokens = 4096;

    public static JsonObject Translate(JsonObject chat)
    {
        var result = new JsonObject { ["model"] = chat["model"]?.DeepClone() };
        var system = new List<string>();
        var messages = new JsonArray();
        foreach (var node in chat["messages"]!.AsArray())
        {
            var message = node!.AsObject();
            var role = message["role"]?.GetValue<string>();
            switch (role)
            {
                case "system" or "developer":
                    system.Add(TextOf(message["content"]));
                    break;
                case "tool":
                    Append(messages, "user", new JsonObject
                    {
                        ["type"] = "tool_result",
                        ["tool_use_id"] = message["tool_call_id"]?.DeepClone(),
                        ["content"] = TextOf(message["content"]),
                    });
                    break;
                case "assistant":
                    foreach (var block in ContentBlocks(message["content"]))
                    {
                        Append(messages, "assistant", block);
                    }

                    foreach (var call in message["tool_calls"]?.AsArray() ?? [])
                    {
                        Append(messages, "assistant", new JsonObject
                        {
                            ["type"] = "tool_use",
                            ["id"] = call!["id"]?.DeepClone(),
                            ["name"] = call["function"]?["name"]?.DeepClone(),
                            ["input"] = ParseArguments(call["function"]?["arguments"]),
                        });
                    }

                    break;
                case "user":
                    foreach (var block in ContentBlocks(message["content"]))
                    {
                        Append(messages, "user", block);
                    }

                    break;
                default:
                    throw GatewayException.BadField("messages", $"role '{role}' is not one of system, developer, user, assistant, tool");
            }
        }

        if (system.Count > 0)
        {
            result["system"] = string.Join('\n', system);
        }

        result["messages"] = messages;
        result["max_tokens"] = MaxTokens(chat);
        Copy(chat, result, "temperature", v => JsonValue.Create(Math.Clamp(v.GetValue<double>(), 0, 1)));
        Copy(chat, result, "top_p", v => v.DeepClone());
        Copy(chat, result, "stream", v => v.DeepClone());
        Copy(chat, result, "stop", v => v is JsonArray a ? a.DeepClone() : new JsonArray(v.DeepClone()), "stop_sequences");
        Copy(chat, result, "user", v => new JsonObject { ["user_id"] = v.DeepClone() }, "metadata");
        if (chat["tools"] is JsonArray tools)
        {
            result["tools"] = new JsonArray([.. tools.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t!["function"]?["name"]?.DeepClone(),
                ["description"] = t["function"]?["description"]?.DeepClone(),
                ["input_schema"] = t["function"]?["parameters"]?.DeepClone() ?? new JsonObject { ["type"] = "object" },
            })]);
        }

        if (ToolChoice(chat["tool_choice"], chat["parallel_tool_calls"]) is { } choice)
        {
            result["tool_choice"] = choice;
        }

        return result;
    }

    private static int MaxTokens(JsonObject chat)
    {
        var value = chat["max_completion_tokens"] ?? chat["max_tokens"];
        if (value is null)
        {
            return DefaultMaxTokens;
        }

        return value is JsonValue v && v.TryGetValue(out int n) && n > 0
            ? n
            : throw GatewayException.BadField(chat["max_completion_tokens"] is null ? "max_tokens" : "max_completion_tokens", "must be a positive integer");
    }

    private static JsonObject? ToolChoice(JsonNode? choice, JsonNode? parallel)
    {
        JsonObject? result = choice switch
        {
            null => null,
            JsonValue v when v.GetValue<string>() == "auto" => new JsonObject { ["type"] = "auto" },
            JsonValue v when v.GetValue<string>() == "required" => new JsonObject { ["type"] = "any" },
            JsonValue v when v.GetValue<string>() == "none" => new JsonObject { ["type"] = "none" },
            JsonObject o when o["function"]?["name"] is { } name => new JsonObject { ["type"] = "tool", ["name"] = name.DeepClone() },
            _ => throw GatewayException.BadField("tool_choice", "must be auto, required, none or {\"type\":\"function\",\"function\":{\"name\":...}}"),
        };
        if (parallel is JsonValue p && p.TryGetValue(out bool allowed) && !allowed)
        {
            result ??= new JsonObject { ["type"] = "auto" };
            result["disable_parallel_tool_use"] = true;
        }

        return result;
    }

    private static IEnumerable<JsonObject> ContentBlocks(JsonNode? content)
    {
        if (content is JsonValue text)
        {
            yield return new JsonObject { ["type"] = "text", ["text"] = text.GetValue<string>() };
            yield break;
        }

        foreach (var part in content as JsonArray ?? [])
        {
            var type = part?["type"]?.GetValue<string>();
            if (type == "text")
            {
                yield return new JsonObject { ["type"] = "text", ["text"] = part!["text"]?.DeepClone() };
            }
            else if (type == "image_url")
            {
                var url = part!["image_url"]?["url"]?.GetValue<string>() ?? throw GatewayException.BadField("messages", "image_url without url");
                yield return new JsonObject { ["type"] = "image", ["source"] = ImageSource(url) };
            }
            else
            {
                throw GatewayException.BadField("messages", $"content part type '{type}' cannot be sent to an Anthropic provider");
            }
        }
    }

    private static JsonObject ImageSource(string url)
    {
        if (!url.StartsWith("data:", StringComparison.Ordinal))
        {
            return new JsonObject { ["type"] = "url", ["url"] = url };
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        var header = comma > 0 ? url[5..comma] : "";
        if (comma < 0 || !header.EndsWith(";base64", StringComparison.Ordinal))
        {
            throw GatewayException.BadField("messages", "image data URLs must be base64 (data:TYPE;base64,...)");
        }

        return new JsonObject { ["type"] = "base64", ["media_type"] = header[..^7], ["data"] = url[(comma + 1)..] };
    }

    /// <summary>Consecutive messages of one role become one Anthropic message (tool results included), as the API requires.</summary>
    private static void Append(JsonArray messages, string role, JsonObject block)
    {
        if (messages.Count > 0 && messages[^1]!["role"]!.GetValue<string>() == role)
        {
            messages[^1]!["content"]!.AsArray().Add((JsonNode)block);
            return;
        }

        messages.Add((JsonNode)new JsonObject { ["role"] = role, ["content"] = new JsonArray(block) });
    }

    private static JsonNode ParseArguments(JsonNode? arguments)
    {
        if (arguments is JsonValue v && v.TryGetValue(out string? text) && text.Length > 0)
        {
            try
            {
                return JsonNode.Parse(text) ?? new JsonObject();
            }
            catch (JsonException)
            {
                throw GatewayException.BadField("messages", "tool_calls[].function.arguments is not valid JSON");
            }
        }

        return new JsonObject();
    }

    private static string TextOf(JsonNode? content) => content switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray parts => string.Concat(parts.Where(p => p?["type"]?.GetValue<string>() == "text").Select(p => p!["text"]?.GetValue<string>())),
        _ => "",
    };

    private static void Copy(JsonObject from, JsonObject to, string key, Func<JsonNode, JsonNode> map, string? targetKey = null)
    {
        if (from[key] is { } value)
        {
            to[targetKey ?? key] = map(value);
        }
    }
}

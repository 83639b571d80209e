using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Anthropic Messages response → OpenAI chat completion (text joined, tool_use → tool_calls, stop reasons, usage).</summary>
internal static class AnthropicResponseTranslator
{
    public static JsonObject Translate(JsonElement message, long created)
    {
        var text = new System.Text.StringBuilder();
        var toolCalls = new JsonArray();
        foreach (var block in message.GetProperty("content").EnumerateArray())
        {
            switch (block.GetProperty("type").GetString())
            {
                case "text":
                    text.Append(block.GetProperty("text").GetString());
                    break;
                case "tool_use":
                    toolCalls.Add((JsonNode)new JsonObject
                    {
                        ["id"] = block.GetProperty("id").GetString(),
                        ["type"] = "function",
                        ["function"] = new JsonObject
                        {
                            ["name"] = block.GetProperty("name").GetString(),
                            ["arguments"] = block.GetProperty("input").GetRawText(),
                        },
                    });
                    break;
            }
        }

        var assistant = new JsonObject { ["role"] = "assistant", ["content"] = text.ToString() };
        if (toolCalls.Count > 0)
        {
            assistant["tool_calls"] = toolCalls;
        }

        return new JsonObject
        {
            ["id"] = message.GetProperty("id").GetString(),
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = message.GetProperty("model").GetString(),
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = assistant,
                ["finish_reason"] = FinishReason(message.TryGetProperty("stop_reason", out var r) ? r.GetString() : null),
            }),
            ["usage"] = message.TryGetProperty("usage", out var usage) ? Usage(usage, 0) : null,
        };
    }

    public static string? FinishReason(string? stopReason) => stopReason switch
    {
        null => null,
        "max_tokens" or "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    };

    /// <summary>OpenAI usage; prompt tokens include cache reads and writes. <paramref name="promptFallback"/> when the object has no input count.</summary>
    public static JsonObject Usage(JsonElement usage, long promptFallback)
    {
        long Get(string name) => usage.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
        var cached = Get("cache_read_input_tokens");
        var prompt = usage.TryGetProperty("input_tokens", out _) ? Get("input_tokens") + cached + Get("cache_creation_input_tokens") : promptFallback;
        var completion = Get("output_tokens");
        return new JsonObject
        {
            ["prompt_tokens"] = prompt,
            ["completion_tokens"] = completion,
            ["total_tokens"] = prompt + completion,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
        };
    }
}

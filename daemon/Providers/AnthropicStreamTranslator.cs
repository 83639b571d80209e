using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// Anthropic stream events → OpenAI chunks: message_start → role chunk, text/tool deltas → content/tool_calls deltas (tool
/// index counted by us), message_delta → finish_reason, message_stop → usage chunk and [DONE]; an error event fails the stream.
/// </summary>
internal static class AnthropicStreamTranslator
{
    /// <summary>The event types Anthropic sends, as strings made once: an event's type is matched, not decoded.</summary>
    private static readonly string[] KnownTypes =
        ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop", "ping", "error"];

    private static readonly byte[][] KnownTypesUtf8 = [.. KnownTypes.Select(Encoding.UTF8.GetBytes)];

    public static async IAsyncEnumerable<UpstreamChunk> TranslateAsync(Stream stream, string upstream, long created, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var message = new StreamedMessage(created);
        using var events = new SseEventBuffer(upstream);
        while (await events.ReadAsync(stream, cancellationToken))
        {
            while (events.TryTake(out var item))
            {
                var type = TypeName(item.Type.Span);
                if (Translate(message, type, item.Data, upstream) is { } chunk)
                {
                    yield return new UpstreamChunk(NodeJson.Utf8(chunk), false);
                }

                switch (type)
                {
                    case "message_stop":
                        yield return UpstreamChunk.EndOfStream;
                        yield break;
                    case "error":
                        yield break;
                }
            }
        }
    }

    /// <summary>A known type's cached name; another's (Anthropic may add types, which are passed over) decoded.</summary>
    private static string TypeName(ReadOnlySpan<byte> type)
    {
        for (var i = 0; i < KnownTypesUtf8.Length; i++)
        {
            if (type.SequenceEqual(KnownTypesUtf8[i]))
            {
                return KnownTypes[i];
            }
        }

        return Encoding.UTF8.GetString(type);
    }

    /// <summary>The chunk that one event's data becomes, if any; data that is not JSON or not shaped as its type says fails, naming the upstream and the type.</summary>
    private static JsonObject? Translate(StreamedMessage message, string type, ReadOnlyMemory<byte> data, string upstream)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(data);
        }
        catch (JsonException e)
        {
            throw SseChunks.Malformed(upstream, $"event '{type}' is not JSON ({e.Message})");
        }

        using (document)
        {
            try
            {
                return message.Next(type, document.RootElement);
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw SseChunks.Malformed(upstream, $"event '{type}' is not what Anthropic's format says ({e.Message})");
            }
        }
    }

    /// <summary>The message as its events arrive: its id and model, token counts so far and the tool call being streamed.</summary>
    private sealed class StreamedMessage(long created)
    {
        private string id = "";
        private string model = "";
        private long prompt;
        private long completion;
        private long cached;
        private int toolIndex = -1;

        public JsonObject? Next(string type, JsonElement data)
        {
            switch (type)
            {
                case "message_start":
                    var message = data.GetProperty("message");
                    id = message.GetProperty("id").GetString() ?? "";
                    model = message.GetProperty("model").GetString() ?? "";
                    if (message.TryGetProperty("usage", out var startUsage))
                    {
                        var usage = AnthropicResponseTranslator.Usage(startUsage, 0);
                        prompt = usage["prompt_tokens"]!.GetValue<long>();
                        cached = usage["prompt_tokens_details"]!["cached_tokens"]!.GetValue<long>();
                        completion = usage["completion_tokens"]!.GetValue<long>();
                    }

                    return Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" });
                case "content_block_start":
                    var block = data.GetProperty("content_block");
                    if (block.GetProperty("type").GetString() != "tool_use")
                    {
                        return null;
                    }

                    toolIndex++;
                    return Chunk(new JsonObject
                    {
                        ["tool_calls"] = new JsonArray(new JsonObject
                        {
                            ["index"] = toolIndex,
                            ["id"] = block.GetProperty("id").GetString(),
                            ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = block.GetProperty("name").GetString(), ["arguments"] = "" },
                        }),
                    });
                case "content_block_delta":
                    var delta = data.GetProperty("delta");
                    return delta.GetProperty("type").GetString() switch
                    {
                        "text_delta" => Chunk(new JsonObject { ["content"] = delta.GetProperty("text").GetString() }),
                        "input_json_delta" => Chunk(new JsonObject
                        {
                            ["tool_calls"] = new JsonArray(new JsonObject
                            {
                                ["index"] = toolIndex,
                                ["function"] = new JsonObject { ["arguments"] = delta.GetProperty("partial_json").GetString() },
                            }),
                        }),
                        _ => null,
                    };
                case "message_delta":
                    if (data.TryGetProperty("usage", out var deltaUsage) && deltaUsage.TryGetProperty("output_tokens", out var output))
                    {
                        // Cumulative, not an increment.
                        completion = output.GetInt64();
                    }

                    var finish = AnthropicResponseTranslator.FinishReason(data.GetProperty("delta").TryGetProperty("stop_reason", out var r) ? r.GetString() : null);
                    return Chunk(new JsonObject(), finish ?? "stop");
                case "message_stop":
                    return new JsonObject
                    {
                        ["id"] = id,
                        ["object"] = "chat.completion.chunk",
                        ["created"] = created,
                        ["model"] = model,
                        ["choices"] = new JsonArray(),
                        ["usage"] = new JsonObject
                        {
                            ["prompt_tokens"] = prompt,
                            ["completion_tokens"] = completion,
                            ["total_tokens"] = prompt + completion,
                            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
                        },
                    };
                case "error":
                    var error = data.TryGetProperty("error", out var e) ? e : data;
                    return new JsonObject
                    {
                        ["error"] = new JsonObject
                        {
                            ["message"] = error.TryGetProperty("message", out var m) ? m.GetString() : error.GetRawText(),
                            ["type"] = error.TryGetProperty("type", out var t) ? t.GetString() : "upstream_error",
                        },
                    };
                default:
                    return null;
            }
        }

        private JsonObject Chunk(JsonObject delta, string? finishReason = null) => new()
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finishReason }),
        };
    }
}

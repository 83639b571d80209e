using System.Runtime.CompilerServices;
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
    public static async IAsyncEnumerable<UpstreamChunk> TranslateAsync(Stream stream, string upstream, long created, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string id = "", model = "";
        long prompt = 0, completion = 0, cached = 0;
        var toolIndex = -1;
        string? finish = null;
        await foreach (var item in SseChunks.ReadAsync(stream, cancellationToken))
        {
            JsonElement data;
            try
            {
                using var document = JsonDocument.Parse(item.Data);
                data = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw SseChunks.Malformed(upstream, $"event '{item.EventType}' is not JSON ({e.Message})");
            }

            JsonObject Chunk(JsonObject delta, string? finishReason = null) => new()
            {
                ["id"] = id,
                ["object"] = "chat.completion.chunk",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finishReason }),
            };

            switch (item.EventType)
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

                    yield return Emit(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }));
                    break;
                case "content_block_start":
                    var block = data.GetProperty("content_block");
                    if (block.GetProperty("type").GetString() == "tool_use")
                    {
                        toolIndex++;
                        yield return Emit(Chunk(new JsonObject
                        {
                            ["tool_calls"] = new JsonArray(new JsonObject
                            {
                                ["index"] = toolIndex,
                                ["id"] = block.GetProperty("id").GetString(),
                                ["type"] = "function",
                                ["function"] = new JsonObject { ["name"] = block.GetProperty("name").GetString(), ["arguments"] = "" },
                            }),
                        }));
                    }

                    break;
                case "content_block_delta":
                    var delta = data.GetProperty("delta");
                    switch (delta.GetProperty("type").GetString())
                    {
                        case "text_delta":
                            yield return Emit(Chunk(new JsonObject { ["content"] = delta.GetProperty("text").GetString() }));
                            break;
                        case "input_json_delta":
                            yield return Emit(Chunk(new JsonObject
                            {
                                ["tool_calls"] = new JsonArray(new JsonObject
                                {
                                    ["index"] = toolIndex,
                                    ["function"] = new JsonObject { ["arguments"] = delta.GetProperty("partial_json").GetString() },
                                }),
                            }));
                            break;
                    }

                    break;
                case "message_delta":
                    if (data.TryGetProperty("usage", out var deltaUsage) && deltaUsage.TryGetProperty("output_tokens", out var output))
                    {
                        // Cumulative, not an increment.
                        completion = output.GetInt64();
                    }

                    finish = AnthropicResponseTranslator.FinishReason(data.GetProperty("delta").TryGetProperty("stop_reason", out var r) ? r.GetString() : null);
                    yield return Emit(Chunk(new JsonObject(), finish ?? "stop"));
                    break;
                case "message_stop":
                    yield return Emit(new JsonObject
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
                    });
                    yield return UpstreamChunk.EndOfStream;
                    yield break;
                case "error":
                    var error = data.TryGetProperty("error", out var e) ? e : data;
                    yield return Emit(new JsonObject
                    {
                        ["error"] = new JsonObject
                        {
                            ["message"] = error.TryGetProperty("message", out var m) ? m.GetString() : error.GetRawText(),
                            ["type"] = error.TryGetProperty("type", out var t) ? t.GetString() : "upstream_error",
                        },
                    });
                    yield break;
            }
        }
    }

    private static UpstreamChunk Emit(JsonObject chunk) => new(NodeJson.Utf8(chunk), false);
}

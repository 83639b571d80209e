using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>
/// Serves a cached answer in the shape the client asked for: the whole body as JSON, or a stream of OpenAI chunks — per
/// choice the role, the text in pieces of at most <see cref="PieceChars"/> characters, each tool call, the finish reason
/// — then the usage chunk when the client asked for it (stream_options.include_usage), and [DONE].
/// </summary>
internal static class AnswerReplay
{
    public const int PieceChars = 64;

    /// <summary>Writes the answer; <paramref name="beforeEnd"/> runs just before its end goes out (the audit row's commit).</summary>
    public static async Task WriteAsync(HttpContext context, CachedAnswer answer, bool stream, bool includeUsage, IClientProtocol protocol, Func<Task> beforeEnd)
    {
        if (!stream)
        {
            await beforeEnd();
            await protocol.WriteResponseAsync(context, answer.Body);
            return;
        }

        await protocol.BeginStreamAsync(context);
        foreach (var chunk in Chunks(answer, includeUsage))
        {
            await protocol.WriteChunkAsync(context, NodeJson.Utf8(chunk));
        }

        await beforeEnd();
        await protocol.EndStreamAsync(context);
    }

    /// <summary>The stream's chunks, in order, without the end marker.</summary>
    public static IEnumerable<JsonObject> Chunks(CachedAnswer answer, bool includeUsage)
    {
        var root = JsonNode.Parse(answer.Body)!.AsObject();
        var chat = answer.Kind == EndpointKind.ChatCompletions;
        JsonObject Chunk(JsonObject? choice)
        {
            var chunk = new JsonObject
            {
                ["id"] = root["id"]?.DeepClone(),
                ["object"] = chat ? "chat.completion.chunk" : "text_completion",
                ["created"] = root["created"]?.DeepClone(),
                ["model"] = root["model"]?.DeepClone(),
            };
            if (root["system_fingerprint"] is { } fingerprint)
            {
                chunk["system_fingerprint"] = fingerprint.DeepClone();
            }

            chunk["choices"] = choice is null ? new JsonArray() : new JsonArray(choice);
            return chunk;
        }

        foreach (var choice in root["choices"]!.AsArray().OfType<JsonObject>())
        {
            var index = choice["index"]?.DeepClone() ?? 0;
            if (chat)
            {
                var message = choice["message"] as JsonObject ?? [];
                yield return Chunk(Delta(index, new JsonObject { ["role"] = message["role"]?.DeepClone() ?? "assistant", ["content"] = "" }));
                foreach (var piece in Pieces(message["reasoning_content"]))
                {
                    yield return Chunk(Delta(index, new JsonObject { ["reasoning_content"] = piece }));
                }

                foreach (var piece in Pieces(message["content"]))
                {
                    yield return Chunk(Delta(index, new JsonObject { ["content"] = piece }));
                }

                var position = 0;
                foreach (var call in (message["tool_calls"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    var delta = (JsonObject)call.DeepClone();
                    delta["index"] = position++;
                    yield return Chunk(Delta(index, new JsonObject { ["tool_calls"] = new JsonArray(delta) }));
                }

                yield return Chunk(Delta(index, [], choice["finish_reason"]?.DeepClone()));
            }
            else
            {
                foreach (var piece in Pieces(choice["text"]))
                {
                    yield return Chunk(new JsonObject { ["index"] = index.DeepClone(), ["text"] = piece, ["logprobs"] = null, ["finish_reason"] = null });
                }

                yield return Chunk(new JsonObject { ["index"] = index.DeepClone(), ["text"] = "", ["logprobs"] = null, ["finish_reason"] = choice["finish_reason"]?.DeepClone() });
            }
        }

        if (includeUsage)
        {
            var usage = Chunk(null);
            usage["usage"] = root["usage"]?.DeepClone();
            yield return usage;
        }
    }

    private static JsonObject Delta(JsonNode index, JsonObject delta, JsonNode? finish = null) =>
        new() { ["index"] = index.DeepClone(), ["delta"] = delta, ["finish_reason"] = finish };

    /// <summary>The text in pieces, never splitting a surrogate pair; nothing for no text.</summary>
    private static IEnumerable<string> Pieces(JsonNode? text)
    {
        if (text is not JsonValue value || value.GetValueKind() != JsonValueKind.String)
        {
            yield break;
        }

        var s = value.GetValue<string>();
        for (var start = 0; start < s.Length;)
        {
            var length = Math.Min(PieceChars, s.Length - start);
            if (start + length < s.Length && char.IsHighSurrogate(s[start + length - 1]))
            {
                length--;
            }

            yield return s.Substring(start, length);
            start += length;
        }
    }
}

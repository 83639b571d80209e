using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>OpenAI chat completions: one JSON object, or SSE chunks (role, content pieces, finish) ending in [DONE].</summary>
internal static class OpenAiChat
{
    public static bool IncludeUsage(JsonNode? request) => request?["stream_options"]?["include_usage"]?.GetValue<bool>() == true;

    public static string Reply(JsonNode? request)
    {
        var messages = request?["messages"] as JsonArray ?? [];
        var last = messages.LastOrDefault()?["content"]?.GetValue<string>() ?? string.Empty;
        return $"fake reply to: {last}";
    }

    /// <summary>
    /// Writes the reply; a stream whose request asked for <c>stream_options.include_usage</c> ends with a chunk of no
    /// choices that carries the usage, as OpenAI documents it.
    /// </summary>
    public static async Task WriteAsync(HttpContext context, string model, string reply, bool stream, bool includeUsage = false)
    {
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..12];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!stream)
        {
            var words = reply.Split(' ').Length;
            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = reply },
                    ["finish_reason"] = "stop",
                }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 1, ["completion_tokens"] = words, ["total_tokens"] = words + 1 },
            });
            return;
        }

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await SendAsync(context, Chunk(id, created, model, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty }, null));
        var pieces = reply.Split(' ');
        for (var i = 0; i < pieces.Length; i++)
        {
            var text = i == 0 ? pieces[i] : " " + pieces[i];
            await SendAsync(context, Chunk(id, created, model, new JsonObject { ["content"] = text }, null));
        }

        await SendAsync(context, Chunk(id, created, model, [], "stop"));
        if (includeUsage)
        {
            var usage = Chunk(id, created, model, [], null);
            usage["choices"] = new JsonArray();
            usage["usage"] = new JsonObject { ["prompt_tokens"] = 1, ["completion_tokens"] = pieces.Length, ["total_tokens"] = pieces.Length + 1 };
            await SendAsync(context, usage);
        }

        await context.Response.WriteAsync("data: [DONE]\n\n");
    }

    private static JsonObject Chunk(string id, long created, string model, JsonObject delta, string? finish) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
    };

    private static async Task SendAsync(HttpContext context, JsonObject chunk)
    {
        await context.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n");
        await context.Response.Body.FlushAsync();
    }
}

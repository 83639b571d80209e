using System.Text.Json;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>What the gateway needs from one OpenAI stream chunk or response body: content, finish, usage, or an error.</summary>
internal readonly record struct ChunkInfo(bool HasContent, bool Finished, bool UsageOnly, long? PromptTokens, long? CompletionTokens, int ContentChars, string? Error)
{
    /// <summary>Reads a chunk; malformed JSON throws <see cref="JsonException"/>.</summary>
    public static ChunkInfo Inspect(ReadOnlyMemory<byte> json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("a chunk must be a JSON object");
        }

        if (root.TryGetProperty("error", out var error))
        {
            return new ChunkInfo(false, false, false, null, null, 0, error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? m.ToString() : error.ToString());
        }

        bool content = false, finished = false, anyChoice = false;
        var chars = 0;
        if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                anyChoice = true;
                finished |= choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String;
                var part = choice.TryGetProperty("delta", out var delta) ? delta : choice.TryGetProperty("message", out var message) ? message : choice;
                chars += Text(part, "content") + Text(part, "text") + Text(part, "reasoning_content");
                content |= part.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array && calls.GetArrayLength() > 0;
            }
        }

        content |= chars > 0 || (root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array);
        long? prompt = null, completion = null;
        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            prompt = usage.TryGetProperty("prompt_tokens", out var p) && p.TryGetInt64(out var pv) ? pv : null;
            completion = usage.TryGetProperty("completion_tokens", out var c) && c.TryGetInt64(out var cv) ? cv : 0;
        }

        return new ChunkInfo(content, finished, !anyChoice && prompt is not null, prompt, completion, chars, null);
    }

    private static int Text(JsonElement part, string name) =>
        part.ValueKind == JsonValueKind.Object && part.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()!.Length : 0;
}

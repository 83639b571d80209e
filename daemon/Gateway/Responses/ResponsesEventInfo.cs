using System.Text.Json;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// What the gateway needs from a Responses API upstream's answer (relayed natively): from a stream event, its text or
/// arguments delta, its end (response.completed or response.incomplete, with the usage) or its error (an error event, or
/// response.failed); from a whole response object, its output, usage and error.
/// </summary>
internal static class ResponsesEventInfo
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = RequestBody.MaxDepth };

    /// <summary>Malformed JSON throws <see cref="JsonException"/>.</summary>
    public static ChunkInfo Inspect(ReadOnlyMemory<byte> json)
    {
        using var document = JsonDocument.Parse(json, Options);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("an event must be a JSON object");
        }

        switch (Text(root, "type"))
        {
            case null:
                // A whole response object: no event type.
                return OfResponse(root);
            case "error":
                return Failed(Text(root, "message") ?? root.GetRawText());
            case "response.failed":
                return Failed(root.TryGetProperty("response", out var failed) ? ErrorOf(failed) ?? "the response failed" : "the response failed");
            case "response.completed" or "response.incomplete":
                var end = root.TryGetProperty("response", out var final) && final.ValueKind == JsonValueKind.Object ? OfResponse(final) : default;
                return end with { Finished = true, EndsStream = true };
            case "response.output_text.delta" or "response.refusal.delta" or "response.function_call_arguments.delta":
            case "response.reasoning_text.delta" or "response.reasoning_summary_text.delta":
                return new ChunkInfo(true, false, false, null, null, Text(root, "delta")?.Length ?? 0, null);
            default:
                return default;
        }
    }

    private static ChunkInfo OfResponse(JsonElement response)
    {
        if (ErrorOf(response) is { } error)
        {
            return Failed(error);
        }

        var chars = 0;
        var items = 0;
        if (response.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in output.EnumerateArray())
            {
                items++;
                if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                {
                    chars += content.EnumerateArray().Sum(part => part.ValueKind == JsonValueKind.Object ? Text(part, "text")?.Length ?? 0 : 0);
                }
            }
        }

        long? input = null, outputTokens = null;
        if (response.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            input = Tokens(usage, "input_tokens");
            outputTokens = input is null ? null : Tokens(usage, "output_tokens") ?? 0;
        }

        return new ChunkInfo(items > 0, Text(response, "status") is "completed" or "incomplete", false, input, outputTokens, chars, null);
    }

    /// <summary>A response's error message (its error object's), or its status when that is "failed" without one; null otherwise.</summary>
    private static string? ErrorOf(JsonElement response)
    {
        if (response.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (response.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
        {
            return error.ValueKind == JsonValueKind.Object && Text(error, "message") is { } message ? message : error.GetRawText();
        }

        return Text(response, "status") == "failed" ? "the response failed" : null;
    }

    private static ChunkInfo Failed(string message) => new(false, false, false, null, null, 0, message);

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Tokens(JsonElement usage, string name) =>
        usage.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;
}

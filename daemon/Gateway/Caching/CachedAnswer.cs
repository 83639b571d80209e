using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>
/// One stored answer: the whole OpenAI response body (a stream is assembled into one), always with usage, so that it
/// can be served again as JSON or replayed as a stream. <see cref="Bytes"/> is what it counts against max_bytes.
/// </summary>
internal sealed record CachedAnswer(EndpointKind Kind, byte[] Body, long PromptTokens, long CompletionTokens)
{
    public long Bytes => Body.Length;

    /// <summary>
    /// The answer in a whole (non-streamed) body, or null when it must not be stored: not an object, an error, no
    /// choices, a choice without finish_reason, or embeddings without data. Usage the upstream did not send is filled
    /// in with the gateway's estimate and marked <c>estimated</c>.
    /// </summary>
    public static CachedAnswer? FromBody(EndpointKind kind, byte[] body, long estimatedPrompt, long estimatedCompletion)
    {
        JsonObject? root;
        try
        {
            root = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = RequestBody.MaxDepth }) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }

        if (root is null || root["error"] is not null || !Complete(kind, root))
        {
            return null;
        }

        if (root["usage"] is JsonObject usage && Tokens(usage, "prompt_tokens") is { } prompt)
        {
            return new CachedAnswer(kind, body, prompt, Tokens(usage, "completion_tokens") ?? 0);
        }

        root["usage"] = EstimatedUsage(estimatedPrompt, estimatedCompletion);
        return new CachedAnswer(kind, NodeJson.Utf8(root), estimatedPrompt, estimatedCompletion);
    }

    public static JsonObject EstimatedUsage(long prompt, long completion) => new()
    {
        ["prompt_tokens"] = prompt,
        ["completion_tokens"] = completion,
        ["total_tokens"] = prompt + completion,
        ["estimated"] = true,
    };

    private static bool Complete(EndpointKind kind, JsonObject root)
    {
        if (kind == EndpointKind.Embeddings)
        {
            return root["data"] is JsonArray { Count: > 0 };
        }

        return root["choices"] is JsonArray { Count: > 0 } choices
            && choices.All(c => c is JsonObject choice && choice["finish_reason"] is JsonValue finish && finish.GetValueKind() == JsonValueKind.String);
    }

    private static long? Tokens(JsonObject usage, string name) =>
        usage[name] is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var n) ? n : null;
}

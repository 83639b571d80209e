using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>A validated OpenAI request: the parsed body, the model asked for, and whether (and how) it streams.</summary>
internal sealed record ProxyRequest(EndpointKind Kind, JsonObject Body, string Model, bool Stream, bool IncludeUsage)
{
    /// <summary>Validates the fields the gateway relies on, naming the first one that is wrong.</summary>
    public static ProxyRequest From(EndpointKind kind, JsonObject body)
    {
        var model = body["model"] switch
        {
            null => throw GatewayException.BadField("model", "is required"),
            JsonValue v when v.TryGetValue(out string? s) && s.Length > 0 => s,
            _ => throw GatewayException.BadField("model", "must be a non-empty string"),
        };
        var (field, required) = kind switch
        {
            EndpointKind.ChatCompletions => ("messages", "a non-empty array of messages"),
            EndpointKind.Completions => ("prompt", "a string or an array"),
            _ => ("input", "a string or an array"),
        };
        var value = body[field];
        var valid = kind == EndpointKind.ChatCompletions
            ? value is JsonArray { Count: > 0 } messages && messages.All(m => m is JsonObject o && o["role"] is JsonValue)
            : value is JsonArray || (value is JsonValue text && text.TryGetValue(out string? _));
        if (!valid)
        {
            throw value is null ? GatewayException.BadField(field, "is required") : GatewayException.BadField(field, $"must be {required}");
        }

        var stream = body["stream"] switch
        {
            null => false,
            JsonValue v when v.TryGetValue(out bool b) => b,
            _ => throw GatewayException.BadField("stream", "must be true or false"),
        };
        if (stream && kind == EndpointKind.Embeddings)
        {
            throw GatewayException.BadField("stream", "embeddings do not stream");
        }

        var includeUsage = body["stream_options"] switch
        {
            null => false,
            JsonObject o => o["include_usage"] switch
            {
                null => false,
                JsonValue v when v.TryGetValue(out bool b) => b,
                _ => throw GatewayException.BadField("stream_options.include_usage", "must be true or false"),
            },
            _ => throw GatewayException.BadField("stream_options", "must be an object"),
        };
        return new ProxyRequest(kind, body, model, stream, includeUsage);
    }

    /// <summary>
    /// The body for one upstream: its model name, and usage asked for in streams so tokens can be counted. The body is
    /// rewritten in place (each attempt sets both again), so a fallback costs no copy.
    /// </summary>
    public JsonObject ForUpstream(string upstreamModel)
    {
        Body["model"] = upstreamModel;
        if (Stream)
        {
            Body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        return Body;
    }
}

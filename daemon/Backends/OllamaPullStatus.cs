using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// One line of Ollama's <c>/api/pull</c> progress: <c>{"status": "pulling manifest"}</c>, <c>{"status": "pulling
/// 8934d96d3f08", "digest": "sha256:…", "total": N, "completed": M}</c>, …, <c>{"status": "success"}</c>.
/// </summary>
internal sealed record OllamaPullStatus(string Status, string? Digest, long? Total, long? Completed)
{
    public const string Success = "success";

    /// <summary>The line's status; null for an empty line; <see cref="OllamaPullException"/> for an error line or one that is not such JSON.</summary>
    public static OllamaPullStatus? Parse(string line, string tag)
    {
        if (line.Length == 0)
        {
            return null;
        }

        JsonObject? node;
        try
        {
            node = JsonNode.Parse(line) as JsonObject;
        }
        catch (JsonException e)
        {
            throw new OllamaPullException($"Ollama's pull progress for \"{tag}\" is not JSON: {e.Message}", e);
        }

        if (node?["error"] is JsonValue error)
        {
            throw new OllamaPullException($"Ollama could not pull \"{tag}\": {error}");
        }

        if (node?["status"] is not JsonValue status || status.GetValueKind() != JsonValueKind.String)
        {
            throw new OllamaPullException($"Ollama's pull progress for \"{tag}\" has no status: {line}");
        }

        return new OllamaPullStatus(status.GetValue<string>(), (string?)node["digest"], Number(node["total"]), Number(node["completed"]));
    }

    private static long? Number(JsonNode? node) => node is JsonValue value && value.TryGetValue<long>(out var n) ? n : null;
}

/// <summary>Ollama refused or broke off a pull; the message says what it answered.</summary>
internal sealed class OllamaPullException(string message, Exception? inner = null) : Exception(message, inner);

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace UnifiedLlm.Daemon.Serialization;

/// <summary>
/// Writes and reads the JSON trees ullmd builds and relays (request and response bodies, stream chunks, error objects)
/// with source-generated metadata, so nothing on the request path needs reflection (ullmd is published with Native AOT).
/// The options are System.Text.Json's defaults, as the reflection-based calls used before: the same bytes on the wire.
/// </summary>
internal static class NodeJson
{
    public static byte[] Utf8(JsonNode node) => JsonSerializer.SerializeToUtf8Bytes(node, NodeJsonContext.Default.JsonNode);

    /// <summary>A JSON string literal, quotes and escapes included.</summary>
    public static byte[] Utf8(string text) => JsonSerializer.SerializeToUtf8Bytes(text, NodeJsonContext.Default.String);
}

[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(string))]
internal sealed partial class NodeJsonContext : JsonSerializerContext;

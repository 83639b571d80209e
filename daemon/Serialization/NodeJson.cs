using System.Buffers;
using System.Text;
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

    /// <summary>
    /// Printable ASCII that System.Text.Json's default encoder writes as it is (it escapes the quote, the backslash and
    /// the HTML-sensitive <c>&lt; &gt; &amp; ' + `</c>).
    /// </summary>
    private static readonly SearchValues<char> Unescaped = SearchValues.Create(
        " !#$%()*,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>
    /// A JSON string literal, quotes and escapes included. A name with nothing to escape (every model name in practice;
    /// one per proxied request) is copied between quotes, without the serializer's writer and buffer.
    /// </summary>
    public static byte[] Utf8(string text)
    {
        if (text.AsSpan().ContainsAnyExcept(Unescaped))
        {
            return JsonSerializer.SerializeToUtf8Bytes(text, NodeJsonContext.Default.String);
        }

        var literal = new byte[text.Length + 2];
        literal[0] = literal[^1] = (byte)'"';
        Encoding.ASCII.GetBytes(text, literal.AsSpan(1));
        return literal;
    }
}

[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(string))]
internal sealed partial class NodeJsonContext : JsonSerializerContext;

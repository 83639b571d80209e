using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The two ways every client protocol answers: one JSON body with its length, or the start of a server-sent event
/// stream that no cache may keep.
/// </summary>
internal static class ClientResponse
{
    public static async Task WriteJsonAsync(HttpContext context, ReadOnlyMemory<byte> body)
    {
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    public static Task WriteJsonAsync(HttpContext context, JsonNode body) => WriteJsonAsync(context, Utf8(body));

    public static Task BeginEventStreamAsync(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        return context.Response.StartAsync(context.RequestAborted);
    }

    /// <summary>A node's JSON text, written without the reflection-based serializer (which trimming cannot follow).</summary>
    public static ReadOnlyMemory<byte> Utf8(JsonNode node)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            node.WriteTo(writer);
        }

        return buffer.WrittenMemory;
    }
}

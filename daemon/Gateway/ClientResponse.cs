using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

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

    public static Task WriteJsonAsync(HttpContext context, JsonNode body) => WriteJsonAsync(context, NodeJson.Utf8(body));

    public static Task BeginEventStreamAsync(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        return context.Response.StartAsync(context.RequestAborted);
    }
}

using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http.Features;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Reads a request body once, within the configured size limit, as bytes; parses it into a tree only where a translation needs one.</summary>
internal static class RequestBody
{
    public const int MaxDepth = 128;

    public static async Task<byte[]> ReadAsync(HttpContext context, long maxBytes)
    {
        if (context.Request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        byte[] body;
        try
        {
            body = await WholeBody.ReadAsync(context.Request.Body, context.Request.ContentLength, context.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's verdict on the body's framing (a bad chunk, a body sent too slowly): the client's fault.
            throw new GatewayException(e.StatusCode, $"the request body could not be read: {e.Message}", code: "invalid_request_body");
        }

        CheckUtf8(body);
        return body;
    }

    /// <summary>
    /// JSON is UTF-8 (RFC 8259 section 8.1). Bytes that are not would reach a backend that answers 500 for them, which
    /// is the client's error, not the backend's.
    /// </summary>
    private static void CheckUtf8(ReadOnlySpan<byte> body)
    {
        if (Utf8.IsValid(body))
        {
            return;
        }

        var offset = 0;
        while (Rune.DecodeFromUtf8(body[offset..], out _, out var consumed) == OperationStatus.Done)
        {
            offset += consumed;
        }

        throw new GatewayException(400, $"the request body is not valid UTF-8 (at byte {offset})", code: "invalid_encoding");
    }

    public static JsonObject ParseObject(byte[] body)
    {
        JsonNode? node;
        try
        {
            // A key given twice would make the tree throw when first read (a 500); RFC 8259 leaves its meaning open, so it is refused.
            node = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw InvalidJson(e);
        }
        catch (InvalidOperationException)
        {
            // Checking for a key given twice decodes every property name.
            throw BadName();
        }

        var request = node as JsonObject ?? throw NotAnObject();
        try
        {
            // Property names are decoded when a tree is first read: an escape such as "\ud800" in one threw there (a 500).
            CheckNames(request);
        }
        catch (InvalidOperationException)
        {
            throw BadName();
        }

        return request;
    }

    private static void CheckNames(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, value) in o)
                {
                    CheckNames(value);
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    CheckNames(item);
                }

                break;
        }
    }

    public static GatewayException BadName() =>
        new(400, "the request body has a property name that is not valid Unicode (an unpaired surrogate escape)", code: "invalid_json");

    public static GatewayException InvalidJson(JsonException e) =>
        new(400, $"the request body is not valid JSON: {e.Message}", code: "invalid_json");

    public static GatewayException NotAnObject() =>
        new(400, "the request body must be a JSON object", code: "invalid_json");

    private static GatewayException TooLarge(long maxBytes) =>
        new(413, $"the request body is larger than {maxBytes} bytes (server.max_request_body_bytes)", code: "request_too_large");
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Reads a request body once, within the configured size limit, into a JSON object.</summary>
internal static class RequestBody
{
    public static async Task<JsonObject> ReadObjectAsync(HttpContext context, long maxBytes)
    {
        if (context.Request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        JsonNode? node;
        try
        {
            node = await JsonNode.ParseAsync(context.Request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 128 }, cancellationToken: context.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
        catch (JsonException e)
        {
            throw new GatewayException(400, $"the request body is not valid JSON: {e.Message}", code: "invalid_json");
        }

        return node as JsonObject ?? throw new GatewayException(400, "the request body must be a JSON object", code: "invalid_json");
    }

    private static GatewayException TooLarge(long maxBytes) =>
        new(413, $"the request body is larger than {maxBytes} bytes (server.max_request_body_bytes)", code: "request_too_large");
}

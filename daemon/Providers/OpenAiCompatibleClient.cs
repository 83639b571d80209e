using System.Net.Http.Headers;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// Forwards OpenAI requests (and Responses API requests, to an upstream that speaks it) unchanged but for the model name
/// and the key, to a local backend, an OpenAI-compatible provider or a peer ullmd.
/// </summary>
internal sealed class OpenAiCompatibleClient : IUpstreamClient
{
    public async Task<UpstreamReply> SendAsync(UpstreamCall call, CancellationToken cancellationToken)
    {
        var uri = call.Format == WireFormat.Responses ? call.Endpoints.Responses : call.Endpoints.For(call.Kind);
        var response = await UpstreamHttp.SendAsync(call.Connections, static s => Request(s.Uri, s.Call), (Uri: uri, Call: call), call.Stream, call.Name, cancellationToken);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            if (call.Stream)
            {
                return new UpstreamReply(response, null, SseChunks.ReadOpenAiAsync(stream, call.Name, cancellationToken));
            }

            return new UpstreamReply(response, await WholeBody.ReadAsync(stream, response.Content.Headers.ContentLength, cancellationToken), null);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private static HttpRequestMessage Request(Uri uri, UpstreamCall call)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = Json(call.Body) };
        if (call.ApiKey is { Length: > 0 } key)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (call.ForwardedRequestId is { } id)
        {
            request.Headers.Add(PeerHeaders.RequestId, id);
            request.Headers.Add(PeerHeaders.Hop, "1");
        }

        return request;
    }

    public static ByteArrayContent Json(System.Text.Json.Nodes.JsonNode body) => Json(NodeJson.Utf8(body));

    public static ByteArrayContent Json(byte[] body)
    {
        var content = new ByteArrayContent(body);
        // Kept as text: a parsed media type would be an object per request, formatted back into this text to be sent.
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        return content;
    }
}

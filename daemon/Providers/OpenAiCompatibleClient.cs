using System.Net.Http.Headers;
using System.Text.Json;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Forwards OpenAI requests unchanged (but for the model name and the key) to a local backend or an OpenAI-compatible provider.</summary>
internal sealed class OpenAiCompatibleClient(UpstreamHttp http) : IUpstreamClient
{
    public async Task<UpstreamReply> SendAsync(UpstreamCall call, CancellationToken cancellationToken)
    {
        var uri = new Uri(call.V1Base, call.Kind.Path());
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = Json(call.Body) };
        if (call.ApiKey is { Length: > 0 } key)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        var response = await http.SendAsync(request, uri.GetLeftPart(UriPartial.Authority), cancellationToken);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            if (call.Stream)
            {
                return new UpstreamReply(response, null, SseChunks.ReadOpenAiAsync(stream, cancellationToken));
            }

            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            return new UpstreamReply(response, buffer.ToArray(), null);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public static ByteArrayContent Json(System.Text.Json.Nodes.JsonNode body) => Json(JsonSerializer.SerializeToUtf8Bytes(body));

    public static ByteArrayContent Json(byte[] body) => new(body)
    {
        Headers = { ContentType = new MediaTypeHeaderValue("application/json") },
    };
}

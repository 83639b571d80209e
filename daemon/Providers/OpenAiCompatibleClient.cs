using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Forwards OpenAI requests unchanged (but for the model name and the key) to a local backend or an OpenAI-compatible provider.</summary>
internal sealed class OpenAiCompatibleClient : IUpstreamClient
{
    private const long MaxPreallocatedBody = 16 * 1024 * 1024;

    public async Task<UpstreamReply> SendAsync(UpstreamCall call, CancellationToken cancellationToken)
    {
        var uri = call.Endpoints.For(call.Kind);
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = Json(call.Body) };
        if (call.ApiKey is { Length: > 0 } key)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        var response = await UpstreamHttp.SendAsync(call.Connections, request, call.Endpoints.Authority, cancellationToken);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            if (call.Stream)
            {
                return new UpstreamReply(response, null, SseChunks.ReadOpenAiAsync(stream, cancellationToken));
            }

            return new UpstreamReply(response, await ReadBodyAsync(stream, response.Content.Headers.ContentLength, cancellationToken), null);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The whole body; read straight into an array of the announced length when there is one, up to a size that an
    /// upstream's wrong Content-Length cannot turn into a huge allocation. Without one (a chunked response), read into
    /// pooled buffers and copied out once.
    /// </summary>
    private static async Task<byte[]> ReadBodyAsync(Stream stream, long? length, CancellationToken cancellationToken)
    {
        if (length is { } exact and <= MaxPreallocatedBody)
        {
            var body = new byte[exact];
            await stream.ReadExactlyAsync(body, cancellationToken);
            return body;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var filled = 0;
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
            {
                filled += read;
                if (filled == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
            }

            return buffer.AsSpan(0, filled).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public static ByteArrayContent Json(System.Text.Json.Nodes.JsonNode body) => Json(JsonSerializer.SerializeToUtf8Bytes(body));

    public static ByteArrayContent Json(byte[] body) => new(body)
    {
        Headers = { ContentType = new MediaTypeHeaderValue("application/json") },
    };
}

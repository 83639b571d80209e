using System.Text.Json;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Serves chat completions from Anthropic's Messages API, translating the request, the response and the stream.</summary>
internal sealed class AnthropicClient(TimeProvider time) : IUpstreamClient
{
    public const string ApiVersion = "2023-06-01";

    public async Task<UpstreamReply> SendAsync(UpstreamCall call, CancellationToken cancellationToken)
    {
        var upstream = call.Name;
        if (call.Kind != EndpointKind.ChatCompletions)
        {
            throw new UpstreamFailure(400, $"{upstream}: an Anthropic provider serves only chat completions, not /v1/{call.Kind.Path()}", retryable: true);
        }

        var uri = call.Endpoints.Messages;
        var body = NodeJson.Utf8(AnthropicRequestTranslator.Translate(RequestBody.ParseObject(call.Body)));
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        var response = await UpstreamHttp.SendAsync(
            call.Connections, static s => Request(s.Uri, s.Body, s.ApiKey), (Uri: uri, Body: body, call.ApiKey), call.Stream, upstream, cancellationToken);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            if (call.Stream)
            {
                return new UpstreamReply(response, null, AnthropicStreamTranslator.TranslateAsync(stream, upstream, created, cancellationToken));
            }

            using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
            var translated = AnthropicResponseTranslator.Translate(document.RootElement, created);
            return new UpstreamReply(response, NodeJson.Utf8(translated), null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            response.Dispose();
            throw new UpstreamFailure(502, $"{upstream}: the Messages API response is not what Anthropic's format says ({e.Message})", retryable: true, inner: e);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private static HttpRequestMessage Request(Uri uri, byte[] body, string? apiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = OpenAiCompatibleClient.Json(body) };
        request.Headers.Add("anthropic-version", ApiVersion);
        if (apiKey is { Length: > 0 } key)
        {
            request.Headers.Add("x-api-key", key);
        }

        return request;
    }
}

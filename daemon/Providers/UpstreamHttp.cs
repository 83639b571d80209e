using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>The rules that turn an upstream's failures into <see cref="UpstreamFailure"/>.</summary>
internal static class UpstreamHttp
{
    private const int MaxErrorBodyBytes = 64 * 1024;

    /// <summary>A request that fails before any response is sent again once where <see cref="UpstreamConnections.MayResend"/> allows.</summary>
    public const int MaxSendAttempts = 2;

    /// <summary>
    /// Sends a request made by <paramref name="newRequest"/> from <paramref name="state"/> (a static factory: no closure
    /// per request) and returns the response once its headers are in (the body still streaming); connect errors and
    /// error statuses throw. The upstream's words are kept as they came: the caller knows the key it sent and takes it
    /// out (ProxyPipeline, before a breaker, a log or a client sees the failure).
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync<TState>(
        UpstreamConnections connections, Func<TState, HttpRequestMessage> newRequest, TState state, bool stream, string upstream, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        for (var attempt = 1; ; attempt++)
        {
            using var request = newRequest(state);
            if (stream && connections.CloseAfterStreams)
            {
                request.Headers.ConnectionClose = true;
            }

            try
            {
                response = await connections.SendAsync(request, cancellationToken);
                break;
            }
            catch (HttpRequestException e) when (attempt < MaxSendAttempts && !cancellationToken.IsCancellationRequested && connections.MayResend(e))
            {
            }
            catch (HttpRequestException e)
            {
                throw new UpstreamFailure(502, $"{upstream}: cannot connect: {Describe(e)}", retryable: true, inner: e);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new UpstreamFailure(504, $"{upstream}: connect timed out", retryable: true, inner: e);
            }
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var message = await ErrorMessageAsync(response, cancellationToken);
            var retryable = status is 408 or 429 or 529 || status >= 500;
            var retryAfter = RetryAfter(response);
            throw new UpstreamFailure(
                status >= 500 ? 502 : status,
                $"{upstream} answered {status}: {message}",
                retryable,
                retryAfter,
                answered: true);
        }
    }

    /// <summary>What went wrong, in words that name no address: a local backend's loopback port is nobody's business.</summary>
    public static string Describe(HttpRequestException failure) => failure.InnerException switch
    {
        SocketException socket => socket.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.ConnectionReset => "connection reset",
            SocketError.TimedOut => "connection timed out",
            SocketError.HostNotFound or SocketError.NoData => "host not found",
            SocketError.NetworkUnreachable or SocketError.HostUnreachable => "unreachable",
            var code => code.ToString(),
        },
        _ => failure.HttpRequestError switch
        {
            HttpRequestError.ResponseEnded => "the connection closed before a response",
            HttpRequestError.NameResolutionError => "host not found",
            HttpRequestError.SecureConnectionError => "TLS handshake failed",
            HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError => "not a valid HTTP response",
            _ => "the request could not be sent",
        },
    };

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is { } header)
        {
            return header.Delta ?? (header.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        }

        return response.Headers.TryGetValues("retry-after", out var values)
            && double.TryParse(values.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    /// <summary>The upstream's own error message when it sent an OpenAI or Anthropic error object, else the start of its body.</summary>
    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxErrorBodyBytes];
        var length = 0;
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }

        try
        {
            using var json = JsonDocument.Parse(buffer.AsMemory(0, length));
            if (json.RootElement.TryGetProperty("error", out var error))
            {
                return error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? m.ToString() : error.ToString();
            }
        }
        catch (JsonException)
        {
        }

        var text = Encoding.UTF8.GetString(buffer, 0, Math.Min(length, 300)).Trim();
        return text.Length == 0 ? ((HttpStatusCode)(int)response.StatusCode).ToString() : text;
    }
}

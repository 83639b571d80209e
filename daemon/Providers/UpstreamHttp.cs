using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>The rules that turn an upstream's failures into <see cref="UpstreamFailure"/>.</summary>
internal static class UpstreamHttp
{
    private const int MaxErrorBodyBytes = 64 * 1024;

    /// <summary>Sends and returns the response once its headers are in (the body still streaming); connect errors and error statuses throw.</summary>
    public static async Task<HttpResponseMessage> SendAsync(
        UpstreamConnections connections, HttpRequestMessage request, string upstream, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await connections.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new UpstreamFailure(502, $"{upstream}: cannot connect: {e.Message}", retryable: true, inner: e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamFailure(504, $"{upstream}: connect timed out", retryable: true, inner: e);
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
                retryAfter);
        }
    }

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

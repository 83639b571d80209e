using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Serves OpenAI's audio endpoints, whose bodies are not JSON chat: transcriptions and translations take a
/// multipart/form-data upload whose <c>model</c> form field picks the target (read from the start of the body; the file
/// is streamed on to the backend as it arrives, never held whole), and speech takes JSON and answers audio bytes, relayed
/// as they come. Targets are tried in the route's order until one is reached; once the body is on its way there is no
/// second target, since the upload cannot be replayed.
/// </summary>
internal sealed partial class AudioProxy(
    ModelRouter router,
    IModelEndpoints local,
    UpstreamConnections providerConnections,
    ConfigHolder config,
    TimeProvider time,
    ILogger<AudioProxy> logger)
{
    /// <summary>How far into an upload the model field must come: the fields before the file, or a small file and the fields.</summary>
    public const int MaxBytesBeforeModel = 1 << 20;

    private const int RelayBufferBytes = 64 << 10;

    public async Task RunAsync(HttpContext context, Exchange exchange, EndpointKind kind)
    {
        var current = config.Current;
        var body = kind == EndpointKind.AudioSpeech
            ? await SpeechAsync(context, current.Server.MaxRequestBodyBytes)
            : await UploadAsync(context, current.Server.MaxAudioBodyBytes);
        exchange.Model = body.Model;
        var plan = router.Plan(body.Model)
            ?? throw new GatewayException(404, router.DescribeUnknown(body.Model), "model", "model_not_found");
        exchange.RoutedModel = plan.ModelLabel;
        ProxyPipeline.CheckAllowed(exchange.Client, plan);
        plan = ProxyPipeline.ForAnonymous(exchange, plan, current.Security);
        UpstreamFailure? last = null;
        foreach (var target in plan.Targets)
        {
            exchange.Path.Add(target.Name);
            if ((ProxyPipeline.NotServed(current, target, kind) ?? NotServedByProvider(target, kind)) is { } notServed)
            {
                last = notServed;
                exchange.Path[^1] += " (endpoint not served)";
                continue;
            }

            Upstream upstream;
            try
            {
                upstream = await ReachAsync(target, context.RequestAborted);
            }
            catch (Exception e) when (e is UpstreamFailure or ModelUnavailableException)
            {
                last = e as UpstreamFailure ?? new UpstreamFailure(((ModelUnavailableException)e).StatusCode, $"{target.Name}: {e.Message}", retryable: true, ((ModelUnavailableException)e).RetryAfter);
                exchange.Path[^1] += $" ({last.StatusCode})";
                LogAttemptFailed(logger, exchange.RequestId, target.Name, last.Message);
                continue;
            }

            await using (upstream)
            {
                exchange.Target = target;
                await ForwardAsync(context, exchange, kind, body, upstream, current.Router.Timeouts);
            }

            return;
        }

        throw ProxyPipeline.NoTargetServed(last, body.Model, plan, exchange);
    }

    /// <summary>A multipart upload: its Content-Type and size checked, the model field read from its start.</summary>
    private static async Task<AudioBody> UploadAsync(HttpContext context, long maxBytes)
    {
        var boundary = MultipartModelField.Boundary(context.Request.ContentType);
        if (context.Request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        MultipartModelField field;
        try
        {
            field = await MultipartModelField.ReadAsync(context.Request.Body, boundary, MaxBytesBeforeModel, context.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }

        return new AudioBody(field.Model, context.Request.ContentType!, upstreamModel =>
        {
            var name = Encoding.UTF8.GetBytes(upstreamModel);
            byte[] head = [.. field.Prefix.AsSpan(0, field.ValueStart), .. name, .. field.Prefix.AsSpan(field.ValueEnd, field.Length - field.ValueEnd)];
            long? length = context.Request.ContentLength is { } sent ? sent - field.Length + head.Length : null;
            return (head, context.Request.Body, length);
        }, maxBytes);
    }

    /// <summary>Text to speech: a JSON body with a model and a string input, within the JSON size limit.</summary>
    private static async Task<AudioBody> SpeechAsync(HttpContext context, long maxBytes)
    {
        var body = await RequestBody.ReadAsync(context, maxBytes);
        var scan = OpenAiBodyScan.Read(body);
        if (scan.ModelValue.IsMissing)
        {
            throw GatewayException.BadField("model", "is required");
        }

        var model = scan.Model is { Length: > 0 } m ? m : throw GatewayException.BadField("model", "must be a non-empty string");
        if (scan.Input.Token != JsonTokenType.String)
        {
            throw scan.Input.IsMissing ? GatewayException.BadField("input", "is required") : GatewayException.BadField("input", "must be a string: the text to speak");
        }

        return new AudioBody(model, "application/json", upstreamModel =>
        {
            byte[] head = [.. body.AsSpan(0, scan.ModelValue.Start), .. NodeJson.Utf8(upstreamModel), .. body.AsSpan(scan.ModelValue.End)];
            return (head, Stream.Null, head.Length);
        }, maxBytes);
    }

    /// <summary>Anthropic's API has no audio endpoints; OpenAI-compatible providers are asked.</summary>
    private static UpstreamFailure? NotServedByProvider(RouteTarget target, EndpointKind kind) =>
        target.Provider is { Kind: ProviderKind.Anthropic }
            ? new UpstreamFailure(400, $"{target.Name}: an Anthropic provider does not serve {kind.ConfigName()}", retryable: true)
            : null;

    /// <summary>The target's endpoints and connections: a local model loaded (on demand) and a request slot on it, or a provider and its key.</summary>
    private async Task<Upstream> ReachAsync(RouteTarget target, CancellationToken cancellationToken)
    {
        if (target.Provider is { } provider)
        {
            string? key = null;
            if (provider.ApiKey.Kind != ApiKeySourceKind.None)
            {
                key = ApiKeyReader.Read(provider.ApiKey)
                    ?? throw new UpstreamFailure(502, $"{target.Name}: the provider's API key ({provider.ApiKey}) is not available", retryable: true);
            }

            return new Upstream(UpstreamEndpoints.OfV1Base(provider.V1Base), providerConnections, target.Model, key, null, null);
        }

        var leased = await local.AcquireAsync(target.Model, cancellationToken);
        if (!leased.Succeeded)
        {
            throw ModelUnavailableException.From(leased.Failure);
        }

        var lease = leased.Value;
        try
        {
            var endpoints = lease.ApiBase is { } api ? UpstreamEndpoints.OfV1Base(api) : UpstreamEndpoints.OfRoot(lease.BaseAddress);
            var slot = await ProxyPipeline.AdmitAsync(target, lease.Connections, cancellationToken);
            return new Upstream(endpoints, lease.Connections, lease.UpstreamModel, null, lease, slot);
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends the body on (the upload streamed) and relays the answer as it arrives: status, type and bytes.</summary>
    private async Task ForwardAsync(HttpContext context, Exchange exchange, EndpointKind kind, AudioBody body, Upstream upstream, UpstreamTimeouts timeouts)
    {
        var name = exchange.Target!.Name;
        var (head, rest, length) = body.ForUpstream(upstream.Model);
        using var request = new HttpRequestMessage(HttpMethod.Post, upstream.Endpoints.For(kind)) { Content = new SplicedContent(head, rest, length) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(body.ContentType);
        // A body streamed on cannot be sent twice, so it never goes over a pooled connection the backend may have closed.
        request.Headers.ConnectionClose = true;
        if (upstream.Key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", upstream.Key);
        }

        // A forced unload (ullmctl unload --force) revokes the lease: the upload and the answer end with it.
        var revoked = upstream.Lease?.Revoked ?? CancellationToken.None;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, revoked);
        timeout.CancelAfter(timeouts.FirstToken);
        var started = time.GetTimestamp();
        HttpResponseMessage response;
        try
        {
            response = await upstream.Connections.SendAsync(request, timeout.Token);
        }
        catch (Exception e) when (TooLargeIn(e))
        {
            throw TooLarge(body.MaxBytes);
        }
        catch (OperationCanceledException) when (revoked.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            throw new GatewayException(503, $"{name}: ended by a forced unload (ullmctl unload --force) before it answered", code: "model_unloaded", retryAfter: null);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            throw new GatewayException(504, $"{name}: no answer within {timeouts.FirstToken.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (router.first_token_timeout_seconds)", code: "upstream_timeout", retryAfter: null);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(502, $"{name}: {UpstreamHttp.Describe(e)}", code: "upstream_error");
        }

        using (response)
        {
            exchange.TimeToFirstToken = time.GetElapsedTime(started);
            exchange.Status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                exchange.Outcome = "error";
                exchange.Error = $"{name} answered {(int)response.StatusCode} {response.ReasonPhrase}";
            }

            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            context.Response.ContentLength = response.Content.Headers.ContentLength;
            await RelayAsync(context, exchange, response, timeouts.Idle, revoked);
        }
    }

    /// <summary>Copies the answer a buffer at a time, flushing each, so audio plays while it is made.</summary>
    private async Task RelayAsync(HttpContext context, Exchange exchange, HttpResponseMessage response, TimeSpan idle, CancellationToken revoked)
    {
        var name = exchange.Target!.Name;
        var buffer = new byte[RelayBufferBytes];
        var upstream = await response.Content.ReadAsStreamAsync(context.RequestAborted);
        await using (upstream)
        {
            using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, revoked);
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ending.Token);
            try
            {
                while (true)
                {
                    stall.CancelAfter(idle);
                    var read = await upstream.ReadAsync(buffer, stall.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), ending.Token);
                    await context.Response.Body.FlushAsync(ending.Token);
                }
            }
            // A write cancelled by the revocation can abort the client's connection itself: still the unload's doing.
            catch (Exception e) when ((revoked.IsCancellationRequested || !context.RequestAborted.IsCancellationRequested) && e is OperationCanceledException or IOException or HttpRequestException)
            {
                // The status line is sent: the client learns of it by the connection ending short.
                var reason = revoked.IsCancellationRequested ? $"{name}: ended mid-answer by a forced unload (ullmctl unload --force)"
                    : e is OperationCanceledException
                    ? $"{name}: no data for {idle.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s mid-answer (router.idle_timeout_seconds)"
                    : $"{name}: connection lost mid-answer: {e.Message}";
                exchange.Failed(new GatewayException(revoked.IsCancellationRequested ? 503 : 502, reason, code: "stream_failed"), "stream_failed");
                LogRelayFailed(logger, exchange.RequestId, reason);
                context.Abort();
            }
        }
    }

    private static bool TooLargeIn(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
            {
                return true;
            }
        }

        return false;
    }

    private static GatewayException TooLarge(long maxBytes) =>
        new(413, $"the audio upload is larger than {maxBytes} bytes (server.max_audio_body_bytes)", code: "request_too_large");

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId}: {Target} could not be reached, trying the next target: {Reason}")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, string target, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId}: the audio answer broke off: {Reason}")]
    private static partial void LogRelayFailed(ILogger logger, string requestId, string reason);

    /// <summary>
    /// What the client sent: the model asked for, the Content-Type to pass on, and the body for an upstream that knows the
    /// model by <c>upstreamModel</c> (bytes to send first, the stream of the rest, and the total length when known).
    /// </summary>
    private sealed record AudioBody(string Model, string ContentType, Func<string, (byte[] Head, Stream Remainder, long? Length)> ForUpstream, long MaxBytes);

    /// <summary>A reached target; disposing it gives back the request slot and the lease.</summary>
    private sealed record Upstream(UpstreamEndpoints Endpoints, UpstreamConnections Connections, string Model, string? Key, ModelLease? Lease, RequestAdmission.RequestSlot? Slot)
        : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Slot?.Dispose();
            if (Lease is not null)
            {
                await Lease.DisposeAsync();
            }
        }
    }

    /// <summary>A request body of bytes already read followed by the rest of a stream, copied as the upstream takes it.</summary>
    private sealed class SplicedContent(byte[] head, Stream rest, long? length) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(head, cancellationToken);
            await rest.CopyToAsync(stream, RelayBufferBytes, cancellationToken);
        }

        protected override bool TryComputeLength(out long computed)
        {
            computed = length ?? 0;
            return length is not null;
        }
    }
}

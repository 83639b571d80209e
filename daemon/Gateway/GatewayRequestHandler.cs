using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The frame around every proxied request: authentication, rate limits, the body read once, the pipeline, the error object
/// on failure, and one audit row and metric sample at the end, whatever happened (the row already committed, for an
/// answer that ended well: <see cref="ProxyPipeline"/>).
/// </summary>
internal sealed partial class GatewayRequestHandler(
    ClientAuthenticator authenticator,
    RateLimits limits,
    ProxyPipeline pipeline,
    AudioProxy audio,
    AuditQueue audit,
    GatewayMetrics metrics,
    ConfigHolder config,
    TimeProvider time,
    ILogger<GatewayRequestHandler> logger)
{
    /// <summary>Who asked, until authentication says.</summary>
    private static readonly ClientIdentity Unidentified = new(null, "unknown", "unknown");

    /// <summary>Handles an OpenAI request; <paramref name="translate"/> turns another API's body (Anthropic's) into OpenAI's first.</summary>
    public Task HandleAsync(HttpContext context, EndpointKind kind, IClientProtocol protocol, Func<JsonObject, JsonObject>? translate = null) =>
        HandleAsync(context, kind, protocol, translate is null ? null : (_, body, _) => ValueTask.FromResult(translate(body)));

    /// <summary>
    /// Handles a request whose translation needs the caller and may read storage (/v1/responses: a previous_response_id
    /// chain is the caller's own stored responses).
    /// </summary>
    public Task HandleAsync(
        HttpContext context, EndpointKind kind, IClientProtocol protocol, Func<ClientIdentity, JsonObject, CancellationToken, ValueTask<JsonObject>>? translate) =>
        ServeAsync(context, protocol, (Handler: this, Kind: kind, Translate: translate), static (state, request, clientProtocol, exchange) =>
            state.Handler.ProxyAsync(request, state.Kind, clientProtocol, state.Translate, exchange));

    /// <summary>Handles an audio request (<see cref="AudioProxy"/>): an upload to transcribe or translate, or text to speak.</summary>
    public Task HandleAudioAsync(HttpContext context, EndpointKind kind) =>
        ServeAsync(context, OpenAiClientProtocol.Instance, (Audio: audio, Kind: kind), static (state, request, _, exchange) => state.Audio.RunAsync(request, exchange, state.Kind));

    private async Task ProxyAsync(
        HttpContext context, EndpointKind kind, IClientProtocol protocol, Func<ClientIdentity, JsonObject, CancellationToken, ValueTask<JsonObject>>? translate, Exchange exchange)
    {
        var body = await RequestBody.ReadAsync(context, config.Current.Server.MaxRequestBodyBytes);
        if (translate is not null)
        {
            body = NodeJson.Utf8(await translate(exchange.Client, RequestBody.ParseObject(body), context.RequestAborted));
        }

        // A request only a target that speaks its own API can serve is that API's, not OpenAI's.
        var request = protocol.Native is { Untranslatable: not null } ? ProxyRequest.NativeOnly(kind, body) : ProxyRequest.From(kind, body);
        exchange.Model = request.Model;
        await pipeline.RunAsync(context, exchange, request, protocol);
    }

    // The serving step gets its state as an argument, not captured: a closure and a delegate less for every request.
    private async Task ServeAsync<TState>(HttpContext context, IClientProtocol protocol, TState state, Func<TState, HttpContext, IClientProtocol, Exchange, Task> serve)
    {
        metrics.InFlight.Inc();
        var exchange = new Exchange(RequestIds.Of(context), Unidentified, time.GetTimestamp(), time.GetUtcNow());
        try
        {
            var client = await authenticator.AuthenticateAsync(context);
            exchange.Client = client;
            limits.Admit(client);
            await serve(state, context, protocol, exchange);
        }
        catch (GatewayException e)
        {
            exchange.Failed(e, "error");
            // A loading notice may have begun the stream: the error then ends it as an event, as a failure mid-stream does.
            var streaming = context.Response.HasStarted && context.Response.ContentType == "text/event-stream";
            await (streaming ? protocol.FailStreamAsync(context, e) : protocol.WriteErrorAsync(context, e));
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            exchange.Failed(new GatewayException(499, "the client closed the connection"), "client_closed");
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's verdict on the request's framing, met while writing the answer or reading a body.
            var error = new GatewayException(e.StatusCode, $"bad request: {e.Message}", code: "invalid_request");
            exchange.Failed(error, "error");
            await protocol.WriteErrorAsync(context, error);
        }
        catch (Exception e)
        {
            // A defect of ullmd's, not the client's: the client gets an error object with the request id to report, the
            // log gets the whole exception, and the audit row says what happened.
            LogUnexpected(logger, e, exchange.RequestId);
            var error = new GatewayException(500, $"internal error in ullmd (request {exchange.RequestId}); the log has the details", code: "internal_error");
            exchange.Failed(error, "internal_error");
            await protocol.WriteErrorAsync(context, error);
        }
        finally
        {
            metrics.InFlight.Dec();
            var latency = time.GetElapsedTime(exchange.StartedAt);
            // A cache hit used no upstream tokens: it counts against the request rate, not the token rate.
            limits.ChargeTokens(exchange.Client, exchange.CacheHit ? 0 : exchange.Prompt + exchange.Completion);
            metrics.Completed(exchange.RoutedModel, exchange.Target?.Label ?? (exchange.CacheHit ? "cache" : null), exchange.Status, latency, exchange.TimeToFirstToken, exchange.Prompt, exchange.Completion, exchange.Cost);
            if (!exchange.Audited)
            {
                audit.Enqueue(exchange.ToRow(latency));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{RequestId}: unexpected failure while serving the request")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string requestId);
}

using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The frame around every proxied request: authentication, rate limits, the body read once, the pipeline, the error object
/// on failure, and one audit row and metric sample at the end, whatever happened.
/// </summary>
internal sealed class GatewayRequestHandler(
    ClientAuthenticator authenticator,
    RateLimits limits,
    ProxyPipeline pipeline,
    AuditQueue audit,
    GatewayMetrics metrics,
    ConfigHolder config,
    TimeProvider time)
{
    /// <summary>Handles an OpenAI request; <paramref name="translate"/> turns another API's body (Anthropic's) into OpenAI's first.</summary>
    public async Task HandleAsync(HttpContext context, EndpointKind kind, IClientProtocol protocol, Func<JsonObject, JsonObject>? translate = null)
    {
        metrics.InFlight.Inc();
        var exchange = new Exchange(RequestIds.Of(context), new ClientIdentity(null, "unknown"), time.GetTimestamp(), time.GetUtcNow());
        try
        {
            var client = await authenticator.AuthenticateAsync(context);
            exchange.Client = client;
            limits.Admit(client);
            var body = await RequestBody.ReadAsync(context, config.Current.Server.MaxRequestBodyBytes);
            if (translate is not null)
            {
                body = JsonSerializer.SerializeToUtf8Bytes(translate(RequestBody.ParseObject(body)));
            }

            var request = ProxyRequest.From(kind, body);
            exchange.Model = request.Model;
            await pipeline.RunAsync(context, exchange, request, protocol);
        }
        catch (GatewayException e)
        {
            exchange.Failed(e, "error");
            await protocol.WriteErrorAsync(context, e);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            exchange.Failed(new GatewayException(499, "the client closed the connection"), "client_closed");
        }
        finally
        {
            metrics.InFlight.Dec();
            var latency = time.GetElapsedTime(exchange.StartedAt);
            limits.ChargeTokens(exchange.Client, exchange.Prompt + exchange.Completion);
            metrics.Completed(exchange.RoutedModel, exchange.Target?.Name, exchange.Status, latency, exchange.TimeToFirstToken, exchange.Prompt, exchange.Completion, exchange.Cost);
            audit.Enqueue(exchange.ToRow(latency));
        }
    }
}

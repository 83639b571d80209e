using System.Globalization;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// /v1/responses: POST through the gateway's request frame and pipeline (as a chat completion), and GET, DELETE and
/// input_items of stored responses, for their owner only, with the same authentication and rate limits.
/// </summary>
internal static class ResponsesEndpoints
{
    public const int DefaultPageSize = 20;
    public const int MaxPageSize = 100;

    public static IServiceCollection AddResponses(this IServiceCollection services)
    {
        services.AddSingleton<ResponseStore>();
        services.AddSingleton<ResponsesService>();
        services.AddHostedService<ResponseRetention>();
        return services;
    }

    public static void MapResponses(this IEndpointRouteBuilder endpoints, GatewayRequestHandler handler)
    {
        var service = endpoints.ServiceProvider.GetRequiredService<ResponsesService>();
        var authenticator = endpoints.ServiceProvider.GetRequiredService<ClientAuthenticator>();
        var limits = endpoints.ServiceProvider.GetRequiredService<RateLimits>();
        endpoints.MapPost("/v1/responses", c =>
        {
            var protocol = new ResponsesClientProtocol(service);
            return handler.HandleAsync(c, EndpointKind.ChatCompletions, protocol, protocol.TranslateAsync);
        });
        endpoints.MapGet("/v1/responses/{id}", c => StoredAsync(c, authenticator, limits, service, Operation.Get));
        endpoints.MapDelete("/v1/responses/{id}", c => StoredAsync(c, authenticator, limits, service, Operation.Delete));
        endpoints.MapGet("/v1/responses/{id}/input_items", c => StoredAsync(c, authenticator, limits, service, Operation.InputItems));
    }

    private static Task<JsonObject> InputItemsAsync(HttpContext context, ResponsesService service, ClientIdentity client, string id)
    {
        var query = context.Request.Query;
        var limit = DefaultPageSize;
        if (query.TryGetValue("limit", out var limitText)
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxPageSize))
        {
            throw GatewayException.BadField("limit", $"must be an integer from 1 to {MaxPageSize}");
        }

        var order = query.TryGetValue("order", out var orderText) ? orderText.ToString() : "desc";
        if (order is not ("asc" or "desc"))
        {
            throw GatewayException.BadField("order", "must be 'asc' or 'desc'");
        }

        return service.InputItemsAsync(client, id, limit, order, NonEmpty(query["after"]), NonEmpty(query["before"]), context.RequestAborted);
    }

    private static async Task StoredAsync(HttpContext context, ClientAuthenticator authenticator, RateLimits limits, ResponsesService service, Operation operation)
    {
        try
        {
            var client = await authenticator.AuthenticateAsync(context);
            limits.Admit(client);
            var id = (string)context.GetRouteValue("id")!;
            var answer = operation switch
            {
                Operation.Get => await service.GetAsync(client, id, context.RequestAborted),
                Operation.Delete => await service.DeleteAsync(client, id, context.RequestAborted),
                _ => await InputItemsAsync(context, service, client, id),
            };
            await ClientResponse.WriteJsonAsync(context, answer);
        }
        catch (GatewayException e)
        {
            var withId = ResponsesClientProtocol.WithRequestId(context, e);
            await OpenAiErrors.WriteAsync(context, withId, OpenAiErrors.Body(withId));
        }
    }

    private enum Operation
    {
        Get,
        Delete,
        InputItems,
    }

    private static string? NonEmpty(Microsoft.Extensions.Primitives.StringValues value) => value.Count > 0 && value[0] is { Length: > 0 } text ? text : null;
}

using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Liveness and readiness for load balancers and the NixOS test: plain JSON, no authentication.</summary>
internal static class HealthEndpoints
{
    public static void MapHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/health", () => Status("ok"));
        endpoints.MapGet("/ready", (IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested
                ? Status("ready")
                : Status("starting", StatusCodes.Status503ServiceUnavailable));
    }

    private static IResult Status(string status, int? statusCode = null) =>
        Results.Json(new JsonObject { ["status"] = status }, NodeJsonContext.Default.JsonObject, statusCode: statusCode);
}

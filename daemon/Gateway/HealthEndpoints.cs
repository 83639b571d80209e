namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Liveness and readiness for load balancers and the NixOS test: plain JSON, no authentication.</summary>
internal static class HealthEndpoints
{
    public static void MapHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/health", () => Results.Json(new { status = "ok" }));
        endpoints.MapGet("/ready", (IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested
                ? Results.Json(new { status = "ready" })
                : Results.Json(new { status = "starting" }, statusCode: StatusCodes.Status503ServiceUnavailable));
    }
}

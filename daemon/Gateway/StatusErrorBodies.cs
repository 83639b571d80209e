using System.Globalization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Gives the error statuses that routing sets without a body (no such path, wrong method) an OpenAI error object, so an
/// SDK reports what went wrong instead of an empty answer. Statuses Kestrel sends itself before any application code
/// runs (a malformed request line, headers over the limit) cannot be reached from here and keep Kestrel's empty body.
/// </summary>
internal static class StatusErrorBodies
{
    public static IApplicationBuilder UseOpenAiErrorBodies(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        await next(context);
        var response = context.Response;
        if (response.StatusCode < 400 || response.HasStarted || response.ContentLength is not null || response.ContentType is not null)
        {
            return;
        }

        var request = context.Request;
        var error = response.StatusCode switch
        {
            StatusCodes.Status404NotFound => new GatewayException(404, $"no such endpoint: {request.Method} {Printable(request.Path)}", code: "unknown_endpoint"),
            StatusCodes.Status405MethodNotAllowed => new GatewayException(405, $"{request.Method} is not allowed on {Printable(request.Path)}", code: "method_not_allowed"),
            var status => new GatewayException(status, $"the request failed with HTTP status {status.ToString(CultureInfo.InvariantCulture)}"),
        };
        await OpenAiErrors.WriteAsync(context, error, OpenAiErrors.Body(error));
    });

    /// <summary>A path as the client sent it, bounded, so an error body cannot be made larger than its request.</summary>
    private static string Printable(PathString path)
    {
        const int Max = 200;
        var text = path.ToString();
        return text.Length <= Max ? text : string.Concat(text.AsSpan(0, Max), "…");
    }
}

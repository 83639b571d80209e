using System.Security.Cryptography;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Gives every request an id, returned in <c>x-request-id</c> on every response and written to the audit log.</summary>
internal static class RequestIds
{
    public const string Header = "x-request-id";

    private const string ItemKey = "ullm.request-id";

    public static string Of(HttpContext context) => context.Items[ItemKey] as string ?? Assign(context);

    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        Assign(context);
        return next(context);
    });

    private static string Assign(HttpContext context)
    {
        var id = "req_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        context.Items[ItemKey] = id;
        context.Response.Headers[Header] = id;
        return id;
    }
}

using System.Security.Cryptography;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Gives every request an id, returned in <c>x-request-id</c> on every response and written to the audit log.</summary>
internal static class RequestIds
{
    public const string Header = "x-request-id";

    /// <summary>Random per process, so that ids stay unique across restarts; a counter makes them unique within one.</summary>
    private static readonly string ProcessPrefix = "req_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    private static long counter;

    /// <summary>The request's id, kept as its TraceIdentifier (which costs no per-request dictionary, unlike Items).</summary>
    public static string Of(HttpContext context) =>
        context.TraceIdentifier.StartsWith(ProcessPrefix, StringComparison.Ordinal) ? context.TraceIdentifier : Assign(context);

    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        Assign(context);
        return next(context);
    });

    private static string Assign(HttpContext context)
    {
        var id = string.Create(ProcessPrefix.Length + 12, Interlocked.Increment(ref counter), static (span, n) =>
        {
            ProcessPrefix.CopyTo(span);
            n.TryFormat(span[ProcessPrefix.Length..], out _, "x12", System.Globalization.CultureInfo.InvariantCulture);
        });
        context.TraceIdentifier = id;
        context.Response.Headers[Header] = id;
        return id;
    }
}

using System.Security.Cryptography;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Routing.Peers;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Gives every request an id, returned in <c>x-request-id</c> on every response and written to the audit log. A request a
/// peer forwarded (marked <see cref="PeerHeaders.Hop"/>) keeps the id the first host gave it, so that one id names it
/// in both hosts' audit logs.
/// </summary>
internal static partial class RequestIds
{
    public const string Header = "x-request-id";

    private const string Prefix = "req_";

    /// <summary>Random per process, so that ids stay unique across restarts; a counter makes them unique within one.</summary>
    private static readonly string ProcessPrefix = Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    private static long counter;

    /// <summary>The request's id, kept as its TraceIdentifier (which costs no per-request dictionary, unlike Items).</summary>
    public static string Of(HttpContext context) =>
        context.TraceIdentifier.StartsWith(Prefix, StringComparison.Ordinal) ? context.TraceIdentifier : Assign(context);

    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (context.Request.Headers.ContainsKey(PeerHeaders.Hop) && context.Request.Headers[Header] is [{ } forwarded] && Forwarded().IsMatch(forwarded))
        {
            context.TraceIdentifier = forwarded;
            context.Response.Headers[Header] = forwarded;
        }
        else
        {
            Assign(context);
        }

        return next(context);
    });

    /// <summary>An id as ullmd makes them (what a peer sends); anything else is not taken from a request.</summary>
    [GeneratedRegex("^req_[0-9a-f]{24}$", RegexOptions.CultureInvariant)]
    private static partial Regex Forwarded();

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

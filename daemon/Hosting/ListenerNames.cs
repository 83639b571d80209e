using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Tags every connection with the listener it arrived on, so that the admin API answers only on the admin socket and
/// the OpenAI API never does — whatever paths a client tries.
/// </summary>
internal static class ListenerNames
{
    public const string OpenAiUnix = "openai-unix";
    public const string OpenAiTcp = "openai-tcp";
    public const string AdminUnix = "admin-unix";

    private const string ItemKey = "ullm.listener";

    public static void Tag(this Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions options, string name) =>
        options.Use(next => connection =>
        {
            connection.Items[ItemKey] = name;
            return next(connection);
        });

    public static string? Of(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var value) == true ? value as string : null;

    public static bool IsAdmin(HttpContext context) => Of(context) == AdminUnix;
}

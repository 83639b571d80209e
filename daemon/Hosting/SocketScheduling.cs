using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Sets how .NET's sockets complete, from <c>server.io_scheduling</c>. .NET reads it from its environment once, when the
/// process makes its first socket, so this runs after the config is read and before the host starts. The config decides
/// either way: an inherited setting is replaced, so that the socket completions and Kestrel's sends (set from the same
/// value in <see cref="DaemonHost"/>) never disagree.
/// </summary>
internal static class SocketScheduling
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static void Apply(IoScheduling scheduling) =>
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, scheduling == IoScheduling.Inline ? "1" : null);
}

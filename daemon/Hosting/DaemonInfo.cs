using System.Reflection;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>Facts about this running daemon: version, start time, and the listeners it bound.</summary>
internal sealed class DaemonInfo(DateTimeOffset startedAt)
{
    public static string Version { get; } =
        typeof(DaemonInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public DateTimeOffset StartedAt { get; } = startedAt;

    public IReadOnlyList<ListenerInfo> Listeners { get; set; } = [];
}

internal sealed record ListenerInfo(string Name, string Address, string Mode, string Group);

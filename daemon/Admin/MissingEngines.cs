using Grpc.Core;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>The parts of the daemon this build does not have yet, named so that callers learn what is missing.</summary>
internal static class MissingEngines
{
    public const string Supervisor = "backend supervision (transient systemd units, their journal) is not in this build yet (issue #3)";
    public static IReadOnlyList<string> All { get; } = [Supervisor];

    public static RpcException Unimplemented(string what) => new(new Status(StatusCode.Unimplemented, what));
}

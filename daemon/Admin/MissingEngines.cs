using Grpc.Core;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>The parts of the daemon this build does not have yet, named so that callers learn what is missing.</summary>
internal static class MissingEngines
{
    public static IReadOnlyList<string> All { get; } = [];

    public static RpcException Unimplemented(string what) => new(new Status(StatusCode.Unimplemented, what));
}

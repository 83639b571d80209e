using Grpc.Core;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>The parts of the daemon this build does not have yet, named so that callers learn what is missing.</summary>
internal static class MissingEngines
{
    public const string Supervisor = "backend supervision (transient systemd units, their journal) is not in this build yet (issue #3)";
    public const string GpuMonitor = "the NVML GPU monitor is not in this build yet (issue #4)";
    public const string Planner = "the memory estimator and placement planner are not in this build yet (issue #4)";
    public const string Registry = "the GGUF model registry scanner is not in this build yet (issue #4)";
    public const string Gateway = "chat/completions routing through the gateway is not in this build yet (issue #6)";

    public static IReadOnlyList<string> All { get; } = [Supervisor, GpuMonitor, Planner, Registry, Gateway];

    public static RpcException Unimplemented(string what) => new(new Status(StatusCode.Unimplemented, what));
}

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// A running backend. <see cref="Exited"/> completes when the process ends for any reason (stopped, crashed, killed by
/// the OOM killer), so callers await it instead of polling.
/// </summary>
internal sealed record BackendProcess(string UnitName, string Model, string InvocationId, int MainPid, Task<BackendExit> Exited);

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// A running backend. <see cref="Exited"/> completes when the process ends for any reason (stopped, crashed, killed by
/// the OOM killer), so callers await it instead of polling.
/// </summary>
internal sealed record BackendProcess(string UnitName, string Model, string InvocationId, int MainPid, Task<BackendExit> Exited)
{
    /// <summary>
    /// Its output lines as they arrive, to follow without a process of one's own: the process supervisor's buffer. Null
    /// under systemd, where following the journal starts a journalctl (<see cref="IBackendSupervisor.ReadLogsAsync"/>).
    /// </summary>
    public BackendLogBuffer? Output { get; init; }
}

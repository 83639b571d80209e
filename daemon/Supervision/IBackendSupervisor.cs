namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Starts, watches and stops backend processes. Two implementations: transient systemd units over D-Bus, and plain
/// child processes for hosts without systemd (<c>[server] supervisor</c>).
/// </summary>
internal interface IBackendSupervisor : IAsyncDisposable
{
    /// <summary>"systemd" or "process", as reported by <c>ullmctl status</c>.</summary>
    string Kind { get; }

    /// <summary>Starts the backend and returns once its process runs (not once it is ready to serve).</summary>
    Task<BackendProcess> StartAsync(BackendLaunch launch, CancellationToken cancellationToken);

    /// <summary>Stops gracefully (SIGTERM, then SIGKILL after <see cref="BackendLaunch.StopTimeout"/>); returns how it ended.</summary>
    Task<BackendExit> StopAsync(string unitName, CancellationToken cancellationToken);

    /// <summary>Backends of ours still running (after a restart of ullmd), for adoption or clean-up.</summary>
    Task<IReadOnlyList<BackendProcess>> ListRunningAsync(CancellationToken cancellationToken);

    /// <summary>The last <paramref name="lines"/> lines of the backend's output, then new lines while <paramref name="follow"/>.</summary>
    IAsyncEnumerable<BackendLogLine> ReadLogsAsync(string unitName, int lines, bool follow, CancellationToken cancellationToken);
}

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Builds <see cref="BackendExit"/> values with the one-line reasons both supervisors use. Like systemd's default
/// SuccessExitStatus=, SIGHUP, SIGINT, SIGTERM and SIGPIPE count as a clean end.
/// </summary>
internal static class BackendExits
{
    private static readonly int[] CleanSignals = [1, 2, 13, 15];

    public static BackendExit Exited(int status) => status == 0
        ? new BackendExit("success", 0, null, "exited with status 0")
        : new BackendExit("exit-code", status, null, $"exited with status {status}");

    public static BackendExit Killed(int signal, string? note = null) => new(
        CleanSignals.Contains(signal) ? "success" : "signal",
        null,
        signal,
        $"killed by signal {signal} ({SignalNames.Name(signal)}){(note is null ? "" : " " + note)}");

    public static BackendExit TimedOut(TimeSpan stopTimeout) => new(
        "timeout", null, ProcessGroupSignals.Kill, $"did not stop within {stopTimeout.TotalSeconds:0.#} s of SIGTERM; killed by signal 9 (SIGKILL)");
}

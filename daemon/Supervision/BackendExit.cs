namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// How a backend ended. <see cref="Result"/> uses systemd's service result words ("success", "exit-code", "signal",
/// "oom-kill", "timeout", "core-dump") for both supervisors; <see cref="Reason"/> is one line for people.
/// </summary>
internal sealed record BackendExit(string Result, int? ExitStatus, int? Signal, string Reason)
{
    public bool Succeeded => Result == "success";
}

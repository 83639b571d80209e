namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Turns what systemd reports for an ended service (Result, ExecMainCode, ExecMainStatus) into a <see cref="BackendExit"/>
/// with the same words the process supervisor uses, and names systemd's own exit codes (200–243: the unit's sandbox or
/// exec step failed before the backend ran).
/// </summary>
internal static class SystemdExit
{
    /// <summary>siginfo's si_code values systemd stores in ExecMainCode.</summary>
    private const int ChildExited = 1;
    private const int ChildKilled = 2;
    private const int ChildDumped = 3;

    private static readonly Dictionary<int, string> SetupSteps = new()
    {
        [200] = "CHDIR",
        [201] = "NICE",
        [202] = "FDS",
        [203] = "EXEC",
        [204] = "MEMORY",
        [205] = "LIMITS",
        [206] = "OOM_ADJUST",
        [207] = "SIGNAL_MASK",
        [208] = "STDIN",
        [209] = "STDOUT",
        [210] = "CHROOT",
        [211] = "IOPRIO",
        [212] = "TIMERSLACK",
        [213] = "SECUREBITS",
        [214] = "SETSCHEDULER",
        [215] = "CPUAFFINITY",
        [216] = "GROUP",
        [217] = "USER",
        [218] = "CAPABILITIES",
        [219] = "CGROUP",
        [220] = "SETSID",
        [221] = "CONFIRM",
        [222] = "STDERR",
        [224] = "PAM",
        [225] = "NETWORK",
        [226] = "NAMESPACE",
        [227] = "NO_NEW_PRIVILEGES",
        [228] = "SECCOMP",
        [229] = "SELINUX_CONTEXT",
        [230] = "PERSONALITY",
        [231] = "APPARMOR_PROFILE",
        [232] = "ADDRESS_FAMILIES",
        [233] = "RUNTIME_DIRECTORY",
        [235] = "CHOWN",
        [236] = "SMACK_PROCESS_LABEL",
        [237] = "KEYRING",
        [238] = "STATE_DIRECTORY",
        [239] = "CACHE_DIRECTORY",
        [240] = "LOGS_DIRECTORY",
        [241] = "CONFIGURATION_DIRECTORY",
        [242] = "NUMA_POLICY",
        [243] = "CREDENTIALS",
    };

    public static BackendExit From(string result, int execMainCode, int execMainStatus, TimeSpan stopTimeout, ulong? memoryMaxBytes)
    {
        var signal = execMainCode is ChildKilled or ChildDumped ? execMainStatus : (int?)null;
        var memoryLimit = memoryMaxBytes is { } max ? $"MemoryMax={max >> 20} MiB" : "its memory limit";
        return result switch
        {
            "oom-kill" => new BackendExit("oom-kill", null, signal ?? 9, $"killed by the OOM killer: it needed more memory than {memoryLimit}"),
            "timeout" => BackendExits.TimedOut(stopTimeout),
            "core-dump" => new BackendExit("core-dump", null, signal, $"killed by signal {signal} ({SignalNames.Name(signal ?? 0)}), core dumped"),
            "signal" when signal == 9 && memoryMaxBytes is not null =>
                BackendExits.Killed(9, $"(likely the OOM killer: cgroup v1 reports a memory-limit kill as a plain SIGKILL; limit {memoryLimit})"),
            "signal" or "success" when signal is { } s => BackendExits.Killed(s),
            "exit-code" when SetupSteps.TryGetValue(execMainStatus, out var step) => new BackendExit(
                "exit-code", execMainStatus, null, $"systemd could not start it: status {execMainStatus}/{step}{Hint(execMainStatus)}"),
            "success" or "exit-code" when execMainCode == ChildExited || execMainCode == 0 => BackendExits.Exited(execMainStatus),
            _ => new BackendExit(result, execMainCode == ChildExited ? execMainStatus : null, signal, $"systemd reports the unit's result as '{result}'"),
        };
    }

    private static string Hint(int status) => status switch
    {
        203 => " (the executable is missing, not executable, or unreadable for the unit's dynamic user: keep it outside /root and home directories)",
        226 => " (a sandbox path does not exist: check the model file and backend paths)",
        _ => "",
    };
}

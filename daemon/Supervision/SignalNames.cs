namespace UnifiedLlm.Daemon.Supervision;

/// <summary>Linux signal names for people-facing exit reasons.</summary>
internal static class SignalNames
{
    private static readonly string[] Names =
    [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];

    public static string Name(int signal) => signal > 0 && signal < Names.Length ? Names[signal] : $"SIG{signal}";

    /// <summary>The number of a name such as "SIGKILL" or "KILL"; null when unknown.</summary>
    public static int? Number(string name)
    {
        var full = name.StartsWith("SIG", StringComparison.Ordinal) ? name : "SIG" + name;
        var index = Array.IndexOf(Names, full);
        return index > 0 ? index : null;
    }
}

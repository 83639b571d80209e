using System.Runtime.InteropServices;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>kill(2) on a whole process group, so a backend's helpers and children go with it.</summary>
internal static partial class ProcessGroupSignals
{
    public const int Terminate = 15;
    public const int Kill = 9;
    private const int NoSuchProcess = 3;

    /// <summary>Signals every process in the group; false when the group is already gone.</summary>
    public static bool Send(int processGroupId, int signal)
    {
        if (processGroupId <= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(processGroupId), processGroupId, "not a backend's process group");
        }

        if (KillNative(-processGroupId, signal) == 0)
        {
            return true;
        }

        var error = Marshal.GetLastPInvokeError();
        return error == NoSuchProcess
            ? false
            : throw new InvalidOperationException($"kill(-{processGroupId}, {signal}) failed: {Marshal.GetPInvokeErrorMessage(error)}");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);
}

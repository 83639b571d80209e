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

    /// <summary>
    /// Waits until <paramref name="pid"/> leads its own process group: Process.Start returns once setsid is exec'd,
    /// a moment before it calls setsid(2). False when the process ended first.
    /// </summary>
    public static async Task<bool> WaitUntilGroupLeaderAsync(int pid, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var group = GetProcessGroupNative(pid);
            if (group == pid)
            {
                return true;
            }

            if (group < 0)
            {
                return false;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"process {pid} did not become a process group leader within {limit.TotalSeconds} s");
            }

            await Task.Delay(1, cancellationToken);
        }
    }

    [LibraryImport("libc", EntryPoint = "getpgid", SetLastError = true)]
    private static partial int GetProcessGroupNative(int pid);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);
}

using System.Globalization;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// A backend's processes as /proc shows them: its main process and every descendant (a server started through a
/// wrapper script forks), their resident memory, and whether one of them holds a listening TCP socket.
/// </summary>
internal static class ProcessTree
{
    /// <summary><paramref name="root"/> and its descendants still running; empty when <paramref name="root"/> has gone.</summary>
    public static IReadOnlySet<int> Of(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ParentOf(pid) is { } parent)
            {
                (children.TryGetValue(parent, out var list) ? list : children[parent] = []).Add(pid);
            }
        }

        var tree = new HashSet<int>();
        if (!Directory.Exists($"/proc/{root}"))
        {
            return tree;
        }

        var pending = new Stack<int>([root]);
        while (pending.TryPop(out var pid))
        {
            if (tree.Add(pid) && children.TryGetValue(pid, out var list))
            {
                list.ForEach(pending.Push);
            }
        }

        return tree;
    }

    /// <summary>The resident memory (VmRSS) of these processes together; a process that has gone counts 0.</summary>
    public static ulong ResidentBytes(IEnumerable<int> pids)
    {
        var total = 0UL;
        foreach (var pid in pids)
        {
            var line = ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            var parts = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts is [_, var kib, "kB"] && ulong.TryParse(kib, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                total += value * 1024;
            }
        }

        return total;
    }

    /// <summary>
    /// Who listens on 127.0.0.1:<paramref name="port"/> (or on every address, or ::): true when one of
    /// <paramref name="pids"/> holds the socket, false when another process does, null when nothing can be told (no
    /// listener seen, no process of the backend visible). Sockets are matched to the processes' open files; where those
    /// cannot be read (a backend under another user, and ullmd without CAP_SYS_PTRACE), by the socket's owner: a
    /// listener owned by none of the backend's users is not the backend.
    /// </summary>
    public static bool? HoldsListener(IReadOnlySet<int> pids, int port)
    {
        var listeners = ListeningSockets(port);
        if (listeners.Count == 0 || pids.Count == 0)
        {
            return null;
        }

        // Every process has open files (stdout at least); none readable means they are hidden from ullmd.
        var readable = false;
        foreach (var pid in pids)
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                {
                    var target = new FileInfo(fd).LinkTarget;
                    readable |= target is not null;
                    if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && listeners.ContainsKey(target["socket:[".Length..^1]))
                    {
                        return true;
                    }
                }
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                // Hidden from ullmd, or gone since the tree was read.
            }
        }

        if (readable)
        {
            return false;
        }

        var users = pids.Select(UserOf).OfType<string>().ToHashSet(StringComparer.Ordinal);
        return users.Count > 0 && !listeners.Values.Any(users.Contains) ? false : null;
    }

    /// <summary>The socket inodes listening on the port on loopback or any address, with their owners' uids, from /proc/net/tcp and tcp6.</summary>
    private static Dictionary<string, string> ListeningSockets(int port)
    {
        const string Listen = "0A";
        var hexPort = port.ToString("X4", CultureInfo.InvariantCulture);
        var sockets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var table in (string[])["/proc/net/tcp", "/proc/net/tcp6"])
        {
            foreach (var line in ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 9 && fields[3] == Listen && fields[1].EndsWith(":" + hexPort, StringComparison.Ordinal) && IsLoopbackOrAny(fields[1]))
                {
                    sockets[fields[9]] = fields[7];
                }
            }
        }

        return sockets;
    }

    /// <summary>The real uid of a process (the first of /proc/PID/status's Uid: line), or null when it has gone.</summary>
    private static string? UserOf(int pid) =>
        ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))
            ?.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);

    private static bool IsLoopbackOrAny(string local)
    {
        var address = local[..local.IndexOf(':', StringComparison.Ordinal)];
        // 127.0.0.1 and 0.0.0.0; ::, ::1 and ::ffff:127.0.0.1 as the kernel prints them.
        return address is "0100007F" or "00000000" or "00000000000000000000000000000000" or "00000000000000000000000001000000"
            or "0000000000000000FFFF00000100007F";
    }

    private static int? ParentOf(int pid)
    {
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so read after the last ')'.
        var stat = ReadLines($"/proc/{pid}/stat").FirstOrDefault();
        var close = stat?.LastIndexOf(')') ?? -1;
        var fields = close < 0 ? [] : stat![(close + 2)..].Split(' ');
        return fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent) ? parent : null;
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}

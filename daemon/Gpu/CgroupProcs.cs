namespace UnifiedLlm.Daemon.Gpu;

/// <summary>Reads the PIDs in a cgroup (and its child cgroups) from cgroup.procs, on cgroup v2, hybrid or v1 hosts.</summary>
internal static class CgroupProcs
{
    /// <summary>Hierarchies tried in order: unified v2, the v2 half of a hybrid host, systemd's own v1 hierarchy.</summary>
    public static readonly IReadOnlyList<string> HierarchyRoots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];

    private const string ProcsFile = "cgroup.procs";

    /// <summary>The PIDs in <paramref name="controlGroup"/>; empty when the cgroup does not exist (its unit has gone).</summary>
    /// <exception cref="ArgumentException">The path is not an absolute cgroup path.</exception>
    /// <exception cref="InvalidDataException">A cgroup.procs line is not a PID.</exception>
    public static async Task<IReadOnlySet<int>> ReadAsync(string controlGroup, CancellationToken cancellationToken)
    {
        Validate(controlGroup);
        var relative = controlGroup.TrimStart('/');
        foreach (var root in HierarchyRoots)
        {
            var directory = Path.Join(root, relative);
            if (File.Exists(Path.Join(directory, ProcsFile)))
            {
                var pids = new HashSet<int>();
                await ReadTreeAsync(directory, pids, cancellationToken);
                return pids;
            }
        }

        return new HashSet<int>();
    }

    private static void Validate(string controlGroup)
    {
        if (!controlGroup.StartsWith('/') || controlGroup.Contains('\0') || controlGroup.Split('/').Any(s => s is "." or ".."))
        {
            throw new ArgumentException(
                $"control group '{controlGroup}' must be an absolute cgroup path like /ullm.slice/ullm-x.service", nameof(controlGroup));
        }
    }

    private static async Task ReadTreeAsync(string directory, HashSet<int> pids, CancellationToken cancellationToken)
    {
        var file = Path.Join(directory, ProcsFile);
        string[] lines;
        try
        {
            lines = await File.ReadAllLinesAsync(file, cancellationToken);
        }
        catch (IOException) when (!File.Exists(file))
        {
            return; // removed while we read: its processes have exited
        }

        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
            {
                continue;
            }

            if (!int.TryParse(lines[i], out var pid) || pid <= 0)
            {
                throw new InvalidDataException($"{file}:{i + 1}: '{lines[i]}' is not a PID");
            }

            pids.Add(pid);
        }

        foreach (var child in EnumerateChildren(directory))
        {
            await ReadTreeAsync(child, pids, cancellationToken);
        }
    }

    private static string[] EnumerateChildren(string directory)
    {
        try
        {
            return Directory.GetDirectories(directory);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }
}

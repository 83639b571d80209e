namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// What a backend unit's sandbox (<see cref="BackendUnitSpec"/>) keeps from its files, said before systemd fails with
/// only "226/NAMESPACE": PrivateTmp=yes gives the unit its own empty /tmp and /var/tmp, so a program or model there
/// does not exist for it; DynamicUser=yes runs it as an unprivileged user of its own, which reads only what others may
/// read. Symbolic links are followed to their final target. ProtectHome is not a problem: the unit spec makes home
/// directories read-only instead of hidden when a path lies there.
/// </summary>
internal static class SandboxPaths
{
    private static readonly string[] PrivateTmpDirectories = ["/tmp", "/var/tmp"];

    /// <param name="paths">Each path with what it is ("executable", "model file", …), for the message.</param>
    /// <param name="dynamicUser">The unit runs with DynamicUser=yes.</param>
    /// <returns>One sentence per problem, naming the path and the sandbox property; empty when the unit will see every path.</returns>
    public static List<string> Problems(IEnumerable<(string Path, string What)> paths, bool dynamicUser)
    {
        var problems = new List<string>();
        foreach (var (path, what) in paths)
        {
            var full = Path.GetFullPath(path);
            var target = FinalTarget(full);
            var hidden = false;
            foreach (var seen in target == full ? [full] : new[] { full, target })
            {
                if (PrivateTmpDirectories.FirstOrDefault(d => seen == d || seen.StartsWith(d + "/", StringComparison.Ordinal)) is { } tmp)
                {
                    var via = seen == full ? "" : $" (where {full} leads)";
                    problems.Add($"the {what} {seen}{via} is under {tmp}, which the backend's unit does not see: PrivateTmp=yes gives it an empty {tmp} of its own; "
                        + "move it elsewhere (e.g. /var/lib/unified-llm/models or /opt), or set [server] supervisor = \"process\"");
                    hidden = true;
                    break;
                }
            }

            // A hidden path's mode does not matter: one problem per path.
            if (!hidden && dynamicUser && Unreadable(target, what == "executable") is { } denied)
            {
                problems.Add($"the {what} {full} cannot be read by the backend's unit: it runs as a dynamic user (DynamicUser=yes), and {denied}");
            }
        }

        return problems;
    }

    private static string FinalTarget(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }

    /// <summary>Why others cannot read (or run) the file, or null when they can or it does not exist (the start says so).</summary>
    private static string? Unreadable(string path, bool executable)
    {
        try
        {
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                return null;
            }

            var mode = File.GetUnixFileMode(path);
            var needed = executable ? UnixFileMode.OtherRead | UnixFileMode.OtherExecute : UnixFileMode.OtherRead;
            if (File.Exists(path) && (mode & needed) != needed)
            {
                return $"its mode {Octal(mode)} does not let others {(executable ? "read and run" : "read")} it (chmod o+{(executable ? "rx" : "r")})";
            }

            for (var directory = Path.GetDirectoryName(path); directory is { Length: > 1 }; directory = Path.GetDirectoryName(directory))
            {
                if ((File.GetUnixFileMode(directory) & UnixFileMode.OtherExecute) == 0)
                {
                    return $"the directory {directory} (mode {Octal(File.GetUnixFileMode(directory))}) does not let others through (chmod o+x)";
                }
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');
}

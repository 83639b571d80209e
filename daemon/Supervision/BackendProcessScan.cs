using System.Globalization;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Finds the backends an earlier ullmd's process supervisor left running, by the environment it gave them
/// (<c>ULLM_UNIT</c>, <c>ULLM_MODEL</c>, <c>ULLM_INVOCATION</c>, <c>ULLM_OUTPUT</c>). Only group leaders count (their
/// children inherit the variables), and only those writing into <paramref name="outputDirectory"/>, so two ullmd
/// with different data directories never touch each other's backends. Reading another process's environment needs
/// root, as ullmd runs.
/// </summary>
internal static class BackendProcessScan
{
    public const string UnitVariable = "ULLM_UNIT";
    public const string ModelVariable = "ULLM_MODEL";
    public const string InvocationVariable = "ULLM_INVOCATION";
    public const string OutputVariable = "ULLM_OUTPUT";

    public static IReadOnlyList<FoundBackend> Find(string outputDirectory)
    {
        var prefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDirectory)) + "/";
        var found = new List<FoundBackend>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), CultureInfo.InvariantCulture, out var pid) || StartTime(pid) is not { } started
                || ProcessGroup(pid) != pid || Environment(pid) is not { } environment)
            {
                continue;
            }

            if (environment.TryGetValue(UnitVariable, out var unit) && environment.TryGetValue(OutputVariable, out var output)
                && output.StartsWith(prefix, StringComparison.Ordinal) && environment.TryGetValue(InvocationVariable, out var invocation))
            {
                found.Add(new FoundBackend(unit, environment.GetValueOrDefault(ModelVariable, ""), invocation, pid, started, output));
            }
        }

        return found;
    }

    /// <summary>The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); null when it is gone or a zombie.</summary>
    public static ulong? StartTime(int pid) => Stat(pid) is { } fields && fields[0] != "Z" ? ulong.Parse(fields[19], CultureInfo.InvariantCulture) : null;

    private static int? ProcessGroup(int pid) => Stat(pid) is { } fields ? int.Parse(fields[2], CultureInfo.InvariantCulture) : null;

    /// <summary>The fields of /proc/PID/stat after the command name, starting with the state.</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Dictionary<string, string>? Environment(int pid)
    {
        try
        {
            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ").Split('\0'))
            {
                var equals = entry.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    environment[entry[..equals]] = entry[(equals + 1)..];
                }
            }

            return environment;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>A backend process found running: its unit, model, invocation, pid, start time (for pid reuse) and output file.</summary>
internal sealed record FoundBackend(string UnitName, string Model, string InvocationId, int Pid, ulong StartTime, string OutputFile);

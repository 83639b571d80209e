using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>MemAvailable from /proc/meminfo: the RAM a new backend can take without swapping.</summary>
internal static class HostMemory
{
    public static ulong AvailableBytes() => Parse(File.ReadAllLines("/proc/meminfo"), "/proc/meminfo");

    public static ulong Parse(IReadOnlyList<string> lines, string file)
    {
        for (var i = 0; i < lines.Count; i++)
        {
            if (!lines[i].StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                continue;
            }

            var fields = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 3 && fields[2] == "kB" && ulong.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                return kib * 1024;
            }

            throw new FormatException($"{file}:{i + 1}: expected \"MemAvailable: <n> kB\", got \"{lines[i]}\"");
        }

        throw new FormatException($"{file}: no MemAvailable line");
    }
}

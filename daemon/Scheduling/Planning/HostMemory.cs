using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>Host RAM a new backend may use: the kernel's MemAvailable estimate from /proc/meminfo.</summary>
internal static class HostMemory
{
    public static async Task<ulong> AvailableBytesAsync(CancellationToken cancellationToken, string path = "/proc/meminfo")
    {
        foreach (var line in await File.ReadAllLinesAsync(path, cancellationToken))
        {
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                continue;
            }

            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts is [_, var number, "kB"] && ulong.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                return kib * 1024;
            }

            throw new InvalidDataException($"{path}: cannot read '{line}' (expected 'MemAvailable: N kB')");
        }

        throw new InvalidDataException($"{path} has no MemAvailable line");
    }
}

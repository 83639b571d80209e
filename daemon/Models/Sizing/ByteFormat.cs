using System.Globalization;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>Binary-unit byte counts for messages: "9.80 GiB", "457.0 MiB", "512 B".</summary>
internal static class ByteFormat
{
    public const ulong KiB = 1024;
    public const ulong MiB = 1024 * KiB;
    public const ulong GiB = 1024 * MiB;

    public static string Format(ulong bytes) => bytes switch
    {
        >= GiB => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)GiB:0.00} GiB"),
        >= MiB => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)MiB:0.0} MiB"),
        >= KiB => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)KiB:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}

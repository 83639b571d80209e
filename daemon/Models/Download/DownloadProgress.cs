using System.Globalization;

namespace UnifiedLlm.Daemon.Models.Download;

/// <summary>
/// Where a model's download stands: the part being fetched (1-based, of <see cref="Parts"/>), the bytes written of the
/// files fetched so far and the total of those whose size is known, the recent rate, and the time left for the current
/// part at that rate (null while unknown).
/// </summary>
internal sealed record DownloadProgress(
    string Model,
    string File,
    int Part,
    int Parts,
    long CompletedBytes,
    long? TotalBytes,
    double BytesPerSecond,
    TimeSpan? Eta)
{
    /// <summary>One line: "model.gguf (part 1/2): 12.0 MiB of 40.0 MiB, 3.1 MiB/s, 9 s left".</summary>
    public string Describe()
    {
        var part = Parts > 1 ? $" (part {Part}/{Parts})" : "";
        var of = TotalBytes is { } total ? $" of {Bytes(total)}" : "";
        var eta = Eta is { } left ? $", {Seconds(left)} left" : "";
        return $"{File}{part}: {Bytes(CompletedBytes)}{of}, {Bytes((long)BytesPerSecond)}/s{eta}";
    }

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };

    private static string Seconds(TimeSpan span) => span.TotalSeconds < 60
        ? string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(span.TotalSeconds):0} s")
        : string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes} min {span.Seconds} s");
}

/// <summary>A download that cannot complete: the message names the URL (never the token) and what went wrong.</summary>
internal sealed class ModelDownloadException(string message, Exception? inner = null) : Exception(message, inner);

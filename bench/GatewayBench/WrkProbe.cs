using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Bench;

/// <summary>
/// The stub upstream's own pace, measured with wrk (C, one thread) instead of the bench's .NET client: how fast the stub
/// is when the client is not the limit, so that a reader can see that no proxy is measured against a slower upstream.
/// </summary>
internal static partial class WrkProbe
{
    /// <summary>wrk's requests/s for a POST of <paramref name="body"/> to <paramref name="url"/>, or why it could not run.</summary>
    public static async Task<(double? RequestsPerSecond, string? Why)> MeasureAsync(string wrk, Uri url, string body, int concurrency, double seconds, DirectoryInfo work)
    {
        var script = Path.Combine(work.FullName, "wrk-post.lua");
        await File.WriteAllTextAsync(script, $"""
            wrk.method = "POST"
            wrk.headers["Content-Type"] = "application/json"
            wrk.body = [[{body}]]
            """);
        var start = new ProcessStartInfo(wrk) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-t1", $"-c{concurrency}", F($"-d{Math.Max(1, (int)seconds)}s"), "-s", script, url.ToString() })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            var errors = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            var match = RequestsPerSecond().Match(output);
            return match.Success
                ? (double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), null)
                : (null, $"wrk exited {process.ExitCode} without a requests/s line: {(output + errors).Trim()}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"cannot run '{wrk}': {e.Message}");
        }
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

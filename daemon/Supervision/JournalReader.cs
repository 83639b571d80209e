using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>Reads a unit's output from the journal with <c>journalctl -o json</c> (follows with -f).</summary>
internal sealed class JournalReader(string? journalDirectory, string journalctlPath = "journalctl")
{
    public async IAsyncEnumerable<BackendLogLine> ReadAsync(string unitName, int lines, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(journalctlPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (journalDirectory is not null)
        {
            start.ArgumentList.Add("--directory=" + journalDirectory);
        }

        foreach (var argument in new[] { "--no-pager", "-o", "json", "-n", Math.Max(0, lines).ToString(CultureInfo.InvariantCulture), "_SYSTEMD_UNIT=" + unitName })
        {
            start.ArgumentList.Add(argument);
        }

        if (follow)
        {
            start.ArgumentList.Add("-f");
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {journalctlPath}");
        var errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } json)
            {
                yield return Parse(unitName, json);
            }

            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"journalctl failed for {unitName} (status {process.ExitCode}): {(await errors).Trim()}");
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static BackendLogLine Parse(string unitName, string json)
    {
        using var entry = JsonDocument.Parse(json);
        var root = entry.RootElement;
        var message = root.TryGetProperty("MESSAGE", out var m)
            ? m.ValueKind == JsonValueKind.Array ? Encoding.UTF8.GetString([.. m.EnumerateArray().Select(b => b.GetByte())]) : m.GetString() ?? ""
            : "";
        var micros = root.TryGetProperty("__REALTIME_TIMESTAMP", out var t) ? long.Parse(t.GetString()!, CultureInfo.InvariantCulture) : 0;
        var priority = root.TryGetProperty("PRIORITY", out var p) && int.TryParse(p.GetString(), CultureInfo.InvariantCulture, out var value) ? value : 6;
        return new BackendLogLine(DateTimeOffset.UnixEpoch.AddTicks(micros * 10), unitName, message, priority);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Reads one unit's output from the journal with <c>journalctl -o json</c>: the last lines, then new ones while
/// following. Only what the unit's own processes wrote (<c>_SYSTEMD_UNIT=</c>), as the process supervisor keeps it.
/// <paramref name="journalDirectory"/> reads a journal other than the host's (systemd in a container, in tests).
/// </summary>
internal sealed class JournalReader(string journalctlPath = "journalctl", string? journalDirectory = null)
{
    public async IAsyncEnumerable<BackendLogLine> ReadAsync(
        string unitName, int lines, bool follow, DateTimeOffset now, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var process = Process.Start(StartInfo(unitName, lines, follow, now))
            ?? throw new InvalidOperationException($"could not start {journalctlPath}");
        var errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } json)
            {
                if (Parse(unitName, json) is { } line)
                {
                    yield return line;
                }
            }

            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{journalctlPath} failed for {unitName} (exit {process.ExitCode}): {(await errors).Trim()}");
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    /// <summary>One line of <c>journalctl -o json</c>; null for entries without a readable MESSAGE.</summary>
    internal static BackendLogLine? Parse(string unitName, string json)
    {
        using var document = JsonDocument.Parse(json);
        var entry = document.RootElement;
        if (!entry.TryGetProperty("MESSAGE", out var message))
        {
            return null;
        }

        // journalctl writes a message that is not valid UTF-8 (or has control characters) as an array of bytes.
        var text = message.ValueKind switch
        {
            JsonValueKind.String => message.GetString()!,
            JsonValueKind.Array => Encoding.UTF8.GetString([.. message.EnumerateArray().Select(b => (byte)b.GetInt32())]),
            _ => null,
        };
        if (text is null)
        {
            return null;
        }

        var micros = entry.TryGetProperty("__REALTIME_TIMESTAMP", out var stamp) && long.TryParse(stamp.GetString(), CultureInfo.InvariantCulture, out var us) ? us : 0;
        var priority = entry.TryGetProperty("PRIORITY", out var p) && int.TryParse(p.GetString(), CultureInfo.InvariantCulture, out var level) ? level : 6;
        return new BackendLogLine(DateTimeOffset.UnixEpoch.AddTicks(micros * TimeSpan.TicksPerMicrosecond), unitName, text.TrimEnd('\n'), priority);
    }

    private ProcessStartInfo StartInfo(string unitName, int lines, bool follow, DateTimeOffset now)
    {
        var start = new ProcessStartInfo(journalctlPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in Arguments(unitName, lines, follow, now))
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    internal IEnumerable<string> Arguments(string unitName, int lines, bool follow, DateTimeOffset now)
    {
        yield return "--no-pager";
        yield return "--output=json";
        if (journalDirectory is not null)
        {
            yield return $"--directory={journalDirectory}";
        }

        // Following from "now" rather than "the last 0 lines" keeps a line written while journalctl starts up.
        if (follow && lines == 0)
        {
            yield return "--since=@" + (now.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture);
        }
        else
        {
            yield return $"--lines={lines.ToString(CultureInfo.InvariantCulture)}";
        }

        if (follow)
        {
            yield return "--follow";
        }

        yield return $"_SYSTEMD_UNIT={unitName}";
    }
}

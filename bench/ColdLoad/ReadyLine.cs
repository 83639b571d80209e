using System.Globalization;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>
/// When llama-server became ready, on the wall clock, from its own log: every line carries llama-server's log clock
/// (minutes.seconds.milliseconds.microseconds since its log started), and "model loaded" is printed as /health turns
/// 200. A line can reach its reader late (llama.cpp writes from a logging thread, on a busy machine), never early, so
/// the log clock's start on the wall clock is the earliest of (arrival − log clock) over all lines.
/// </summary>
internal sealed partial record ReadyLine(DateTimeOffset LogStartedAt, TimeSpan SinceLogStart)
{
    public DateTimeOffset ReadyAt => LogStartedAt + SinceLogStart;

    /// <summary>The load whose lines arrived after <paramref name="since"/>, or null when it printed no "model loaded".</summary>
    public static ReadyLine? Find(IEnumerable<(DateTimeOffset At, string Text)> lines, DateTimeOffset since)
    {
        DateTimeOffset? started = null;
        TimeSpan? loaded = null;
        foreach (var (at, text) in lines)
        {
            if (at < since || Stamped().Match(text) is not { Success: true } m)
            {
                continue;
            }

            var clock = TimeSpan.FromMicroseconds(
                (((Number(m, 1) * 60) + Number(m, 2)) * 1_000_000) + (Number(m, 3) * 1000) + Number(m, 4));
            started = started is { } earliest && earliest <= at - clock ? earliest : at - clock;
            if (m.Groups[5].Value.EndsWith(": model loaded", StringComparison.Ordinal))
            {
                loaded = clock;
            }
        }

        return started is { } start && loaded is { } after ? new ReadyLine(start, after) : null;
    }

    private static long Number(Match m, int group) => long.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) (.*?)\s*$")]
    private static partial Regex Stamped();
}

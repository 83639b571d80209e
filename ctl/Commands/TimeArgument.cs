using System.Globalization;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// A point in time given on the command line. A time without an offset is local time, as ullmctl's tables print
/// times, so a time copied from <c>ullmctl audit</c> or <c>keys list</c> means the same instant when passed back.
/// </summary>
internal static class TimeArgument
{
    /// <summary>An ISO 8601 time ("2026-11-24T10:00Z", "2026-11-24 10:00") or a duration before <paramref name="now"/> ("90s", "15m", "2h", "7d").</summary>
    public static bool TryParseTimeOrAgo(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        if (text.Length >= 2 && long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            double? seconds = text[^1] switch
            {
                's' => amount,
                'm' => amount * 60.0,
                'h' => amount * 3600.0,
                'd' => amount * 86400.0,
                _ => null,
            };
            if (seconds is { } s)
            {
                // Longer ago than the calendar reaches is not a time: it fails here rather than overflowing below.
                var reachable = (now - DateTimeOffset.MinValue).TotalSeconds - 86400.0;
                time = s <= reachable ? now - TimeSpan.FromSeconds(s) : default;
                return s <= reachable;
            }
        }

        return TryParseTime(text, out time);
    }

    /// <summary>An ISO 8601 time: "2027-01-31", "2027-01-31T12:00", "2027-01-31T12:00:00Z".</summary>
    public static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out time);
}

using System.Globalization;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>A point in time given as an ISO 8601 time or as a duration ago ("15m", "2h", "7d", "90s").</summary>
internal static class TimeArgument
{
    public static bool TryParse(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        if (text.Length >= 2 && long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            TimeSpan? ago = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                'd' => TimeSpan.FromDays(amount),
                _ => null,
            };
            if (ago is { } a)
            {
                time = now - a;
                return true;
            }
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
    }
}

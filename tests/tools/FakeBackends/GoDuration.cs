using System.Globalization;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// Ollama's keep_alive: a JSON number is seconds, a string is a Go duration ("5m", "1h30m", "-1s") and a bare number
/// string is an error ("missing unit"), as in Ollama's api types; negative means forever (null here).
/// </summary>
internal static partial class GoDuration
{
    public static TimeSpan? FromJson(System.Text.Json.Nodes.JsonNode node) => node.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.Number => FromSeconds(node.GetValue<double>()),
        System.Text.Json.JsonValueKind.String => Parse(node.GetValue<string>()),
        _ => throw new FormatException($"keep_alive must be a number or a duration string, not {node.ToJsonString()}"),
    };

    /// <summary>OLLAMA_KEEP_ALIVE: a Go duration, or else whole seconds.</summary>
    public static TimeSpan? FromEnvironment(string text) =>
        Unit().IsMatch(text) ? Parse(text) : FromSeconds(double.Parse(text, CultureInfo.InvariantCulture));

    public static TimeSpan? Parse(string text)
    {
        if (text == "0")
        {
            return TimeSpan.Zero;
        }

        var match = Duration().Match(text);
        if (!match.Success)
        {
            throw new FormatException(Unit().IsMatch(text) ? $"time: invalid duration \"{text}\"" : $"time: missing unit in duration \"{text}\"");
        }

        var total = TimeSpan.Zero;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var piece = Piece().Match(part.Value);
            var value = double.Parse(piece.Groups["value"].Value, CultureInfo.InvariantCulture);
            total += piece.Groups["unit"].Value switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                "us" or "µs" => TimeSpan.FromMicroseconds(value),
                _ => TimeSpan.FromTicks((long)(value / 100)),
            };
        }

        return match.Groups["sign"].Value == "-" ? null : total;
    }

    private static TimeSpan? FromSeconds(double seconds) => seconds < 0 ? null : TimeSpan.FromSeconds(seconds);

    [GeneratedRegex(@"^(?<sign>[-+]?)(?<part>\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")]
    private static partial Regex Duration();

    [GeneratedRegex(@"^(?<value>\d+(\.\d+)?)(?<unit>ns|us|µs|ms|s|m|h)$")]
    private static partial Regex Piece();

    [GeneratedRegex(@"[a-zµ]")]
    private static partial Regex Unit();
}

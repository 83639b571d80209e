using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using UnifiedLlm.Printing;

namespace UnifiedLlm.Ctl.Output;

/// <summary>Writes a response either as the admin API's JSON (proto3 JSON mapping) or as human text.</summary>
internal static class Printer
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithIndentation());

    /// <summary>
    /// The message as JSON, exactly; or the human text with every control character but the layout's newlines escaped
    /// (<see cref="TerminalText"/>), so that no field from outside can drive the terminal. Renderers escape fields that
    /// may hold a newline themselves (tables do).
    /// </summary>
    public static void Write(bool json, IMessage message, Func<string> human) =>
        Console.Out.Write(json ? Json.Format(message) + "\n" : TerminalText.Escape(human(), keepNewlines: true));

    /// <summary>One line of text from outside, every control character escaped (a newline too).</summary>
    public static string Safe(string text) => TerminalText.Escape(text);

    public static string Bytes(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => $"{bytes / (double)(1UL << 30):0.0} GiB",
        >= 1UL << 20 => $"{bytes / (double)(1UL << 20):0.0} MiB",
        >= 1UL << 10 => $"{bytes / (double)(1UL << 10):0.0} KiB",
        _ => $"{bytes} B",
    };

    public static string Duration(ulong milliseconds)
    {
        var t = TimeSpan.FromMilliseconds(milliseconds);
        return t.TotalDays >= 1 ? $"{(int)t.TotalDays}d {t.Hours}h {t.Minutes}m"
            : t.TotalHours >= 1 ? $"{t.Hours}h {t.Minutes}m {t.Seconds}s"
            : t.TotalMinutes >= 1 ? $"{t.Minutes}m {t.Seconds}s"
            : $"{t.TotalSeconds:0.0}s";
    }

    public static string Time(Timestamp? time) =>
        time is null ? "-" : time.ToDateTimeOffset().ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
}

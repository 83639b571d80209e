namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>"auto" (<see cref="IsAuto"/>), a number (<see cref="Count"/>), or neither: the model's configured value.</summary>
internal readonly record struct GpuLayersChoice(bool IsAuto, int? Count)
{
    public static GpuLayersChoice Configured => default;

    /// <summary>Parses "", "auto" or a non-negative number; null when the text is none of those.</summary>
    public static GpuLayersChoice? Parse(string text) =>
        text.Length == 0 ? Configured
        : text == "auto" ? new GpuLayersChoice(true, null)
        : int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? new GpuLayersChoice(false, n)
        : null;
}

using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// A model's crashes after one more: those within the window, the crash hold once they reach the limit (null below it),
/// and what to publish.
/// </summary>
internal sealed record CrashVerdict(IReadOnlyList<DateTimeOffset> Window, string? HeldFailed, string Reason);

/// <summary>
/// The crash breaker: a lost backend counts as a crash at the moment it is heard of; crashes older than
/// <see cref="SchedulerOptions.CrashWindow"/> are forgotten, and <see cref="SchedulerOptions.CrashLimit"/> of them within
/// it hold the model failed until it is loaded explicitly or the config is reloaded.
/// </summary>
internal static class CrashWindow
{
    /// <summary>Why <paramref name="model"/>'s instance is out of service, for its move to failed.</summary>
    public static string LostReason(string model, string failure) => $"{model}: {failure}";

    /// <summary><paramref name="model"/>'s backend was lost with <paramref name="failure"/> at <paramref name="now"/>, after the <paramref name="crashes"/> kept so far.</summary>
    public static CrashVerdict BackendLost(string model, string failure, IReadOnlyList<DateTimeOffset> crashes, DateTimeOffset now, SchedulerOptions options)
    {
        List<DateTimeOffset> window = [.. crashes.Where(at => now - at <= options.CrashWindow), now];
        if (window.Count < options.CrashLimit)
        {
            return new CrashVerdict(window, null, LostReason(model, failure));
        }

        var held = $"{model} crashed {window.Count} times within {options.CrashWindow.TotalMinutes.ToString(CultureInfo.InvariantCulture)} min (last: {failure}); held failed until loaded explicitly or the config is reloaded";
        return new CrashVerdict(window, held, held);
    }
}

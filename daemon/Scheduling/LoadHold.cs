using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling;

internal enum LoadHoldKind
{
    /// <summary>Repeated failed loads: refused until <see cref="LoadHold.Until"/>.</summary>
    Backoff,

    /// <summary>Repeated crashes: refused until an explicit load or a config reload.</summary>
    CrashLoop,
}

/// <summary>Why loads on demand of <see cref="Model"/> are refused for now, for status and model listings.</summary>
internal sealed record LoadHold(string Model, LoadHoldKind Kind, DateTimeOffset? Until, int Failures, string Reason)
{
    public string Describe() => Kind == LoadHoldKind.Backoff
        ? $"backing off until {Until!.Value.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} UTC after {Failures} failures: {Reason}"
        : Reason;
}

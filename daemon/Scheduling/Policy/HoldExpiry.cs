namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// A model's hold as a request finds it: the hold in force (null: none), and whether its crash hold and its backoff are
/// forgotten, a config loaded since they began having ended them.
/// </summary>
internal sealed record SettledHold(LoadHold? Current, bool ForgetsCrashHold, bool ForgetsBackoff);

/// <summary>
/// The housekeeping of a model's holds: a config reload ends both the crash hold and the backoff that began before it,
/// so they are forgotten the next time the model is asked for, and a backoff whose time is up no longer holds.
/// </summary>
internal static class HoldExpiry
{
    /// <summary><paramref name="hold"/> at <paramref name="now"/>, with the config in force loaded at <paramref name="configLoadedAt"/>.</summary>
    public static SettledHold Settle(SlotHold hold, DateTimeOffset configLoadedAt, DateTimeOffset now) => new(
        hold.At(configLoadedAt, now),
        hold.HeldFailed is not null && configLoadedAt > hold.HeldSince,
        hold.Failures > 0 && configLoadedAt > hold.LastFailedAt);
}

using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>A model's ready instance as a reload finds it: the config it was started with, and its last use.</summary>
internal sealed record ReadyInstance(ModelConfig Running, DateTimeOffset LastUsed);

/// <summary>What a reload does to one model the scheduler knows.</summary>
internal abstract record ReloadDecision
{
    private ReloadDecision()
    {
    }

    /// <summary>Removed from the config with nothing ready: nothing to do.</summary>
    public sealed record Nothing : ReloadDecision;

    /// <summary>Removed from the config while ready: drained and stopped, since nothing else could ever unload it.</summary>
    public sealed record StopRemoved(string Reason) : ReloadDecision;

    /// <summary>Still configured, nothing ready: the model's slot takes <see cref="Config"/>.</summary>
    public sealed record Reconfigure(ModelConfig Config) : ReloadDecision;

    /// <summary>
    /// Still configured and ready: the slot takes <see cref="Config"/>, the ttl timer is re-armed for the new ttl's
    /// <see cref="Deadline"/> (the last use plus the ttl; one already past fires at once), and
    /// <see cref="Announcement"/>, when set, says the running instance keeps the settings it was started with.
    /// </summary>
    public sealed record RearmTtl(ModelConfig Config, DateTimeOffset Deadline, string? Announcement) : ReloadDecision;
}

/// <summary>
/// A reload applies to what is loaded at once: a model removed from the config is drained and stopped, a changed ttl
/// re-arms the idle timer from the last use, and a change to how a loaded model is started is announced, since its
/// running process keeps the old arguments until it is unloaded.
/// </summary>
internal static class ConfigReload
{
    /// <summary>The reload from <paramref name="old"/> to <paramref name="next"/> for <paramref name="model"/>, whose ready instance is <paramref name="ready"/> (null: none).</summary>
    public static ReloadDecision Decide(string model, ReadyInstance? ready, UllmConfig old, UllmConfig next)
    {
        if (!next.Models.TryGetValue(model, out var configured))
        {
            return ready is null ? new ReloadDecision.Nothing() : new ReloadDecision.StopRemoved("removed from the config by a reload");
        }

        if (ready is null)
        {
            return new ReloadDecision.Reconfigure(configured);
        }

        var announcement = StartsDifferently(old, next, ready.Running, configured)
            ? $"{model}: its settings changed; the running instance keeps the ones it was started with until it is unloaded (ullmctl unload {model})"
            : null;
        return new ReloadDecision.RearmTtl(configured, ready.LastUsed + configured.Ttl, announcement);
    }

    private static bool StartsDifferently(UllmConfig old, UllmConfig next, ModelConfig running, ModelConfig configured)
    {
        static ModelConfig LaunchPart(ModelConfig m) => m with { Aliases = [], Ttl = TimeSpan.Zero, Priority = 0, Pinned = false, Group = null };
        return !ValueEquality.Equal(LaunchPart(running), LaunchPart(configured))
            || !ValueEquality.Equal(old.Backends.For(running), next.Backends.For(configured));
    }
}

using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>A ready instance as the rules see it: as the planner sees it, with its exclusive group and its backend's key.</summary>
internal sealed record LoadedMember(LoadedInstance Instance, string? Group, string BackendKey);

/// <summary>An instance a rule stops before a load, and which rule.</summary>
internal sealed record RuleVictim(LoadedInstance Instance, string Reason)
{
    public string Model => Instance.Name;
}

/// <summary>
/// The instances that rules, before any memory question, stop for a load: the other loaded members of its exclusive
/// group, and, when its backend is at <c>max_loaded</c>, that backend's instances the planner would evict first (lowest
/// priority, then least recently used; never pinned). Pure, so that a real load and <c>ullmctl plan</c> choose the same.
/// </summary>
internal static class RuleEvictions
{
    /// <summary>The victims, in the order they are stopped; <see cref="LeaseFailureKind.DoesNotFit"/> when a pinned instance stands in the way.</summary>
    public static Outcome<IReadOnlyList<RuleVictim>> Choose(ModelConfig model, int maxLoaded, IReadOnlyList<LoadedMember> loaded)
    {
        var others = loaded.Where(m => m.Instance.Name != model.Name).ToList();
        var victims = new List<RuleVictim>();
        if (model.Group is { } group)
        {
            var members = others.Where(m => m.Group == group).ToList();
            if (members.FirstOrDefault(m => m.Instance.Pinned) is { } pinned)
            {
                return new LeaseFailure(
                    LeaseFailureKind.DoesNotFit, model.Name, $"{model.Name} cannot load: {pinned.Instance.Name} is pinned and loaded, and exclusive group '{group}' holds one loaded member at a time");
            }

            victims.AddRange(members.Select(m => new RuleVictim(m.Instance, $"swapped out of exclusive group '{group}' for {model.Name}")));
        }

        var key = model.BackendKey;
        var sameBackend = others.Where(m => m.BackendKey == key && victims.All(v => v.Instance != m.Instance)).Select(m => m.Instance).ToList();
        var excess = sameBackend.Count + 1 - maxLoaded;
        if (maxLoaded > 0 && excess > 0)
        {
            var order = LoadPlanner.EvictionOrder(sameBackend);
            if (order.Count < excess)
            {
                var protectedBy = string.Join(", ", sameBackend.Select(c => c.Protection).OfType<string>());
                return new LeaseFailure(
                    LeaseFailureKind.DoesNotFit, model.Name, $"{model.Name} cannot load: [backends.{key}] max_loaded = {maxLoaded} is reached and too few {key} models can be evicted: {protectedBy}");
            }

            victims.AddRange(order.Take(excess).Select(l => new RuleVictim(l, $"evicted for {model.Name}: [backends.{key}] max_loaded = {maxLoaded}")));
        }

        return victims;
    }

    /// <summary>
    /// The machine as the planner will see it once <paramref name="victims"/> have stopped: their memory free on their
    /// GPUs and on the host, and they no longer loaded. A real load stops them first and reads the machine again.
    /// </summary>
    public static PlacementContext Without(PlacementContext context, IReadOnlyList<RuleVictim> victims)
    {
        if (victims.Count == 0)
        {
            return context;
        }

        var gone = victims.Select(v => v.Instance).ToList();
        ulong Freed(int gpu) => gone.Aggregate(0UL, (sum, v) => sum + v.BytesOn(gpu));
        var devices = context.Snapshot.Devices
            .Select(d => d with { FreeBytes = Math.Min(d.TotalBytes, d.FreeBytes + Freed(d.Index)), UsedBytes = d.UsedBytes - Math.Min(d.UsedBytes, Freed(d.Index)) })
            .ToList();
        return context with
        {
            Snapshot = context.Snapshot with { Devices = devices },
            HostAvailableBytes = context.HostAvailableBytes + gone.Aggregate(0UL, (sum, v) => sum + v.HostBytes),
            Loaded = [.. context.Loaded.Where(l => gone.All(g => g.Name != l.Name))],
        };
    }
}

using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>The rules' victims (exclusive group, max_loaded) that a real load stops and <c>ullmctl plan</c> shows, as pure policy.</summary>
public sealed class RuleEvictionsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_other_members_of_the_group_are_swapped_out_first_then_the_backends_excess_by_priority_then_age()
    {
        var loaded = new[]
        {
            Member("g1", group: "g"),
            Member("old", priority: 50, lastUsed: T0),
            Member("new", priority: 50, lastUsed: T0.AddMinutes(5)),
            Member("high", priority: 90, lastUsed: T0),
        };

        var chosen = RuleEvictions.Choose(Model("m", "g"), maxLoaded: 3, loaded);

        Assert.True(chosen.Succeeded);
        Assert.Equal(
            [("g1", "swapped out of exclusive group 'g' for m"), ("old", "evicted for m: [backends.llamacpp] max_loaded = 3")],
            chosen.Value.Select(v => (v.Model, v.Reason)));
    }

    [Fact]
    public void A_pinned_group_member_or_too_few_evictable_instances_refuse_the_load_naming_why()
    {
        var pinnedMember = RuleEvictions.Choose(Model("m", "g"), 0, [Member("p", group: "g", pinned: true)]);
        Assert.Equal("m cannot load: p is pinned and loaded, and exclusive group 'g' holds one loaded member at a time", pinnedMember.Failure!.Reason);

        var full = RuleEvictions.Choose(Model("m"), 1, [Member("p", pinned: true)]);
        Assert.Equal(LeaseFailureKind.DoesNotFit, full.Failure!.Kind);
        Assert.Equal("m cannot load: [backends.llamacpp] max_loaded = 1 is reached and too few llamacpp models can be evicted: p is pinned", full.Failure.Reason);
    }

    [Fact]
    public void Without_the_victims_the_planner_sees_their_memory_free_and_them_gone()
    {
        var victim = Member("v", gpuBytes: 3_000, hostBytes: 500);
        var kept = Member("k", gpuBytes: 1_000);
        var gpu = new GpuDevice(0, "test", "GPU-0", "0000:00:00.0", 10_000, 6_000, 4_000, null, null, null, []);
        var context = new PlacementContext(new GpuSnapshot(T0, "1", [gpu], null), 2_000, [victim.Instance, kept.Instance], 0);

        var after = RuleEvictions.Without(context, [new RuleVictim(victim.Instance, "test")]);

        Assert.Equal((7_000UL, 3_000UL), (after.Snapshot.Devices[0].FreeBytes, after.Snapshot.Devices[0].UsedBytes));
        Assert.Equal(2_500UL, after.HostAvailableBytes);
        Assert.Equal(["k"], after.Loaded.Select(l => l.Name));
        Assert.Same(context, RuleEvictions.Without(context, []));
    }

    private static ModelConfig Model(string name, string? group = null) =>
        new(name, BackendKind.LlamaCpp, "/m.gguf", [], 256, null, TimeSpan.Zero, 50, false, []) { Group = group };

    private static LoadedMember Member(
        string name, string? group = null, bool pinned = false, int priority = 50, DateTimeOffset? lastUsed = null, ulong gpuBytes = 0, ulong hostBytes = 0) =>
        new(new LoadedInstance(name, gpuBytes == 0 ? new Dictionary<int, ulong>() : new() { [0] = gpuBytes }, hostBytes, priority, pinned, Busy: false, lastUsed ?? T0), group, "llamacpp");
}

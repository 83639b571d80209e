using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>What a config reload does to each model the scheduler knows, from plain values: no scheduler, file or timer.</summary>
public sealed class ConfigReloadTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly UllmConfig Empty = ConfigLoader.Parse("", "ullm.toml");

    private static readonly ModelConfig A = new("a", BackendKind.LlamaCpp, "/m.gguf", [], 4096, null, TimeSpan.FromMinutes(5), 50, false, []);

    private const string Changed = "a: its settings changed; the running instance keeps the ones it was started with until it is unloaded (ullmctl unload a)";

    [Fact]
    public void A_removed_model_is_stopped_when_ready_and_left_alone_otherwise()
    {
        var old = With(A);
        var ready = new ReadyInstance(A, T0);

        Assert.Equal(new ReloadDecision.StopRemoved("removed from the config by a reload"), ConfigReload.Decide("a", ready, old, Empty));
        Assert.Equal(new ReloadDecision.Nothing(), ConfigReload.Decide("a", null, old, Empty));
    }

    [Fact]
    public void A_model_with_nothing_ready_takes_its_new_config_and_nothing_else()
    {
        var next = A with { Context = 8192 };

        Assert.Equal(new ReloadDecision.Reconfigure(next), ConfigReload.Decide("a", null, With(A), With(next)));
    }

    [Theory]
    [InlineData(300, 60, 240)]
    [InlineData(60, 20, 40)]
    [InlineData(60, 90, -30)]
    [InlineData(0, 0, 0)]
    public void A_ready_model_rearms_its_ttl_for_the_deadline_of_the_new_one_from_its_last_use(int ttlSeconds, int idleSeconds, int deadlineSeconds)
    {
        var next = A with { Ttl = TimeSpan.FromSeconds(ttlSeconds) };

        var decision = ConfigReload.Decide("a", new ReadyInstance(A, T0.AddSeconds(-idleSeconds)), With(A), With(next));

        Assert.Equal(new ReloadDecision.RearmTtl(next, T0.AddSeconds(deadlineSeconds), null), decision);
    }

    public static TheoryData<string, bool> Changes => new()
    {
        { "context", true },
        { "source", true },
        { "extra_args", true },
        { "gpu_layers", true },
        { "ttl", false },
        { "priority", false },
        { "pinned", false },
        { "group", false },
        { "aliases", false },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void A_change_to_how_a_ready_model_starts_is_announced_and_one_to_how_it_is_scheduled_is_not(string field, bool announced)
    {
        var next = field switch
        {
            "context" => A with { Context = 8192 },
            "source" => A with { Source = "/other.gguf" },
            "extra_args" => A with { ExtraArgs = ["--no-mmap"] },
            "gpu_layers" => A with { GpuLayers = 10 },
            "ttl" => A with { Ttl = TimeSpan.FromMinutes(9) },
            "priority" => A with { Priority = 90 },
            "pinned" => A with { Pinned = true },
            "group" => A with { Group = "g" },
            "aliases" => A with { Aliases = ["alias"] },
            _ => throw new ArgumentOutOfRangeException(nameof(field), field, "no such field"),
        };

        var decision = Assert.IsType<ReloadDecision.RearmTtl>(ConfigReload.Decide("a", new ReadyInstance(A, T0), With(A), With(next)));

        Assert.Equal(announced ? Changed : null, decision.Announcement);
        Assert.Same(next, decision.Config);
    }

    private static UllmConfig With(ModelConfig model) => Empty with { Models = new Dictionary<string, ModelConfig>(StringComparer.Ordinal) { [model.Name] = model } };
}

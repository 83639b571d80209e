using System.Text.RegularExpressions;
using ArchUnitNET.Domain;
using ArchUnitNET.Fluent;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnitV3;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace UnifiedLlm.Tests.Architecture;

/// <summary>
/// ullmd's namespaces depend one way: Gateway → Routing → Scheduling → Backends/Supervision → Systemd, and Storage,
/// Models, Config and Polling (the poll schedule Routing's peers and the Backends' RPC workers share) are leaves that import none of those (nor Admin or Hosting, the edges above them all). The pure
/// planner (Scheduling.Planning) is the contract between the scheduler and the drivers: Backends may use it, and it uses
/// nothing of the layers. Likewise the D-Bus client (Systemd.DBus) is a protocol library under systemd's layer: Config
/// checks a <c>systemd_address</c> with its address parser, and it uses nothing of the layers. The scheduler's policy
/// (Scheduling.Policy) uses none of the layers under the scheduler either: it decides, the scheduler applies.
/// </summary>
public sealed class LayerTests
{
    private const string Root = "UnifiedLlm.Daemon";

    private static readonly ArchUnitNET.Domain.Architecture Daemon = new ArchLoader().LoadAssemblies(typeof(Scheduler).Assembly).Build();

    /// <summary>Each layer, the layers above it that it must not use, and what under those it may use all the same.</summary>
    public static TheoryData<string, string[], string[]> Rules => new()
    {
        { "Routing", ["Gateway", "Admin", "Hosting"], [] },
        { "Scheduling", ["Gateway", "Routing", "Admin", "Hosting"], [] },
        { "Scheduling.Policy", ["Gateway", "Routing", "Backends", "Supervision", "Systemd", "Storage", "Events", "Providers", "Admin", "Hosting"], [] },
        { "Scheduling.Planning", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Storage", "Admin", "Hosting"], [] },
        { "Backends", ["Gateway", "Routing", "Scheduling", "Admin", "Hosting"], ["Scheduling.Planning"] },
        { "Supervision", ["Gateway", "Routing", "Scheduling", "Backends", "Admin", "Hosting"], [] },
        { "Systemd", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Admin", "Hosting"], [] },
        { "Systemd.DBus", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Storage", "Models", "Config", "Admin", "Hosting"], [] },
        { "Storage", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Admin", "Hosting"], [] },
        { "Models", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Admin", "Hosting"], [] },
        { "Config", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Admin", "Hosting"], ["Systemd.DBus"] },
        { "Polling", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Storage", "Models", "Config", "Admin", "Hosting"], [] },
        { "Serialization", ["Gateway", "Routing", "Scheduling", "Backends", "Supervision", "Systemd", "Storage", "Models", "Config", "Providers", "Admin", "Hosting"], [] },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void A_layer_depends_on_none_above_it(string layer, string[] above, string[] mayUse)
    {
        LayerRule(layer, above, mayUse).Check(Daemon);
    }

    [Fact]
    public void The_rule_finds_a_dependency_upwards()
    {
        // Gateway uses Routing (its router): read as a rule for a layer below Routing, that is a violation.
        Assert.False(LayerRule("Gateway", ["Routing"], []).HasNoViolations(Daemon));
        Assert.True(LayerRule("Gateway", ["Routing"], ["Routing"]).HasNoViolations(Daemon));
    }

    /// <summary>
    /// The scheduler's policy (Scheduling.Policy) decides from plain values: it reads no clock, arms no timer, starts no
    /// task, touches no file, logs nothing, and sees none of the scheduler's mutable state or effects.
    /// </summary>
    [Fact]
    public void The_scheduling_policy_uses_no_clock_timer_task_file_logger_or_mutable_scheduler_state()
    {
        PolicyRule("Scheduling.Policy").Check(Daemon);
    }

    [Fact]
    public void The_policy_rule_finds_the_effects_in_the_scheduler()
    {
        Assert.False(PolicyRule("Scheduling").HasNoViolations(Daemon));
    }

    private static IArchRule PolicyRule(string layer)
    {
        var effects = Types(true).That().ResideInNamespaceMatching(@"^(System\.IO|System\.Threading\.Tasks|Microsoft\.Extensions\.Logging)(\..*)?$")
            .Or().Are(
                typeof(TimeProvider), typeof(ITimer), typeof(CancellationToken), typeof(ConfigHolder), typeof(Scheduler), typeof(SchedulerLoop),
                typeof(ModelInstance), typeof(PendingLoad), typeof(InstanceRecorder), typeof(LoadAdmission), typeof(LoadProgressBoard));
        return Types().That().ResideInNamespaceMatching($@"^{Regex.Escape(Root)}\.{Regex.Escape(layer)}$")
            .Should().NotDependOnAny(effects.As("clocks, timers, tasks, files, loggers and the scheduler's mutable state"))
            .Because("the policy decides from plain values and the scheduler applies its decisions");
    }

    /// <summary>
    /// Types in <paramref name="layer"/> and the namespaces under it depend on no type in the namespaces
    /// <paramref name="above"/> or under them, except those in <paramref name="mayUse"/> and in the layer itself (a
    /// sub-layer's parent may be above it).
    /// </summary>
    private static IArchRule LayerRule(string layer, string[] above, string[] mayUse)
    {
        var upward = Types().That().ResideInNamespaceMatching(Pattern(above));
        var forbidden = upward.And().DoNotResideInNamespaceMatching(Pattern([.. mayUse, layer]));
        return Types().That().ResideInNamespaceMatching(Pattern([layer]))
            .Should().NotDependOnAny(forbidden.As($"types in {string.Join(", ", above)}"))
            .Because($"{Root}.{layer} sits below {string.Join(", ", above)}");
    }

    private static string Pattern(IEnumerable<string> namespaces) =>
        $@"^{Regex.Escape(Root)}\.({string.Join('|', namespaces.Select(Regex.Escape))})(\..*)?$";
}

using CsCheck;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>What a load waiting for its turn does next, from plain values: no admission, planner or loop.</summary>
public sealed class LoadTurnTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly LoadPlan Fits = new([0], null, 99, 4096, new LlamaCppMemoryEstimate("m", 4096, GgmlType.F16, 0, 0, [], 0, 0, 0), []);

    private static readonly LoadPlan Evicts = Fits with { Evictions = [new LoadedInstance("b", new Dictionary<int, ulong>(), 0, 50, false, false, T0)] };

    private const long Version = 7;

    [Theory]
    [InlineData(false, false, false, true, "none", "wait")]
    [InlineData(false, true, true, true, "none", "wait")]
    [InlineData(true, true, false, true, "none", "plan beside")]
    [InlineData(true, true, true, true, "none", "plan beside")]
    [InlineData(true, true, true, false, "none", "begin alone")]
    [InlineData(true, true, false, false, "none", "wait")]
    [InlineData(true, false, false, true, "none", "wait")]
    [InlineData(true, true, false, true, "fits", "begin beside")]
    [InlineData(false, true, false, true, "fits", "wait")]
    [InlineData(true, true, false, false, "fits", "wait")]
    [InlineData(true, true, true, true, "evicts", "begin alone")]
    [InlineData(true, true, false, true, "evicts", "wait")]
    [InlineData(true, true, false, true, "refused", "wait")]
    [InlineData(true, true, true, true, "refused", "begin alone")]
    [InlineData(true, true, false, true, "stale", "plan again")]
    [InlineData(true, true, true, true, "stale", "plan again")]
    [InlineData(false, false, false, false, "stale", "plan again")]
    public void A_load_plans_beside_the_others_when_its_turn_and_the_rules_allow_begins_there_if_the_current_plan_fits_else_alone_or_waits(
        bool isTurn, bool mayStartBeside, bool mayRunAlone, bool rulesStopNothing, string planned, string expected)
    {
        var state = new TurnState(isTurn, mayStartBeside, mayRunAlone, rulesStopNothing, Version);

        Assert.Equal(expected, Describe(LoadTurn.Decide(state, Planned(planned))));
    }

    [Fact]
    public void A_load_begins_beside_the_others_only_with_a_current_plan_that_evicts_nothing_and_alone_only_when_nothing_is_in_flight()
    {
        string[] kinds = ["none", "fits", "evicts", "refused", "stale"];
        var plans = Gen.Int[0, kinds.Length - 1].Select(i => kinds[i]);
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool, plans).Sample((isTurn, beside, alone, rules, planned) =>
        {
            var state = new TurnState(isTurn, beside, alone, rules, Version);
            var plan = Planned(planned);
            switch (LoadTurn.Decide(state, plan))
            {
                case TurnStep.BeginBeside begin:
                    Assert.True(isTurn && beside && rules);
                    Assert.Same(Fits, begin.Plan);
                    Assert.Equal(Version, plan!.Version);
                    break;
                case TurnStep.BeginAlone:
                    Assert.True(isTurn && alone);
                    Assert.True(plan is null or { Version: Version });
                    break;
                case TurnStep.PlanBeside:
                    Assert.True(isTurn && beside && rules);
                    Assert.Null(plan);
                    break;
                case TurnStep.PlanAgain:
                    Assert.NotEqual(Version, plan?.Version);
                    Assert.NotNull(plan);
                    break;
                case TurnStep.Wait:
                    Assert.False(isTurn && alone);
                    break;
            }
        });
    }

    private static BesidePlan? Planned(string planned) => planned switch
    {
        "none" => null,
        "fits" => new BesidePlan(Version, Fits),
        "evicts" => new BesidePlan(Version, Evicts),
        "refused" => new BesidePlan(Version, new PlanRefusal("no GPU has room")),
        "stale" => new BesidePlan(Version - 1, Fits),
        _ => throw new ArgumentOutOfRangeException(nameof(planned), planned, "no such plan"),
    };

    private static string Describe(TurnStep step) => step switch
    {
        TurnStep.Wait => "wait",
        TurnStep.PlanBeside => "plan beside",
        TurnStep.BeginBeside => "begin beside",
        TurnStep.BeginAlone => "begin alone",
        TurnStep.PlanAgain => "plan again",
        _ => throw new ArgumentOutOfRangeException(nameof(step), step, "no such step"),
    };
}

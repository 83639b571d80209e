using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// A waiting load's turn as the loop sees it: whether it is this model's turn, whether it may start beside the loads in
/// flight (none of them runs alone) and whether it may run alone (none is in flight), whether the rules stop nothing for
/// it (no exclusive group member or <c>max_loaded</c> excess, its previous instance not still stopping), and the
/// placement version now.
/// </summary>
internal sealed record TurnState(bool IsTurn, bool MayStartBeside, bool MayRunAlone, bool RulesStopNothing, long Version);

/// <summary>A plan made off the loop for a load beside the others, and the placement version of what it counted.</summary>
internal sealed record BesidePlan(long Version, PlacementDecision Decision);

/// <summary>What a load waiting for its turn does next.</summary>
internal abstract record TurnStep
{
    private TurnStep()
    {
    }

    /// <summary>Not its turn, or its turn but neither beside nor alone yet: wait for a load to begin or end.</summary>
    public sealed record Wait : TurnStep;

    /// <summary>Plan beside the loads in flight, off the loop, counting what the loop hands out now.</summary>
    public sealed record PlanBeside : TurnStep;

    /// <summary>Begin beside the loads in flight with <see cref="Plan"/>, its memory reserved until it is ready or failed.</summary>
    public sealed record BeginBeside(LoadPlan Plan) : TurnStep;

    /// <summary>Begin alone: it may evict, and plans against a settled machine once the loads in flight ended.</summary>
    public sealed record BeginAlone : TurnStep;

    /// <summary>What the plan counted changed while it was made: look at the turn again.</summary>
    public sealed record PlanAgain : TurnStep;
}

/// <summary>
/// A load's turn (<see cref="LoadAdmission"/>): when it is its turn, the rules stop nothing for it and no load runs
/// alone, it is planned beside the loads in flight and begins there if that plan, still current, places it without
/// evicting; otherwise it begins alone once nothing is in flight, and waits until then.
/// </summary>
internal static class LoadTurn
{
    /// <summary>The next step in <paramref name="state"/>, with the plan made beside the others since the last one (null: none).</summary>
    public static TurnStep Decide(TurnState state, BesidePlan? planned)
    {
        if (planned is not null && planned.Version != state.Version)
        {
            return new TurnStep.PlanAgain();
        }

        if (state is { IsTurn: true, MayStartBeside: true, RulesStopNothing: true })
        {
            if (planned is null)
            {
                return new TurnStep.PlanBeside();
            }

            if (planned.Decision is LoadPlan { Evictions.Count: 0 } fits)
            {
                return new TurnStep.BeginBeside(fits);
            }
        }

        return state is { IsTurn: true, MayRunAlone: true } ? new TurnStep.BeginAlone() : new TurnStep.Wait();
    }
}

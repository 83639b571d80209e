namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>No placement fits; <see cref="Reason"/> says what was needed, what was free, and what could not be evicted.</summary>
internal sealed record PlanRefusal(string Reason) : PlacementDecision;

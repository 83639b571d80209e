namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>The planner's answer: a <see cref="LoadPlan"/> or a <see cref="PlanRefusal"/>.</summary>
internal abstract record PlacementDecision;

using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>What to plan: a configured model and what one load of it would ask for instead of its configured values.</summary>
internal sealed record PlanQuestion(ModelConfig Model, LoadOverrides Overrides);

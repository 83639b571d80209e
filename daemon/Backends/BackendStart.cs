using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// One load the scheduler decided: the model, the planner's placement (GPU indices, layers, context, memory estimate),
/// the backend's settings, and the unit name the instance will run under.
/// </summary>
internal sealed record BackendStart(ModelConfig Model, LoadPlan Plan, BackendConfig Backend, string UnitName)
{
    /// <summary>Told, with what the backend is doing, once its process runs and it loads the model, before it serves.</summary>
    public Action<string>? Loading { get; init; }
}

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

    /// <summary>
    /// The connections the gateway will send the backend's requests through once it is ready, when the caller has them
    /// already. A driver that probes readiness over HTTP probes through them and keeps the connection open, so that the
    /// first request, usually waiting for this load, goes out at once on it instead of opening one.
    /// </summary>
    public HttpMessageHandler? Connections { get; init; }
}

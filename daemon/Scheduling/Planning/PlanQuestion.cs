using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>What to plan: a configured model, a context (null: configured, else the model's own), layers and a preferred GPU.</summary>
internal sealed record PlanQuestion(ModelConfig Model, ulong? Context, GpuLayersChoice GpuLayers, int? Gpu);

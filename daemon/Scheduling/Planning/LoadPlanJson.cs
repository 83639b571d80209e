using System.Text.Json;
using System.Text.Json.Serialization;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// A ready instance's plan as stored in <c>instances.plan_json</c>, so an instance adopted after a restart still counts
/// in the planner's placements and can be evicted. The evictions that preceded the load are not kept.
/// </summary>
internal static class LoadPlanJson
{
    public static string Write(LoadPlan plan) => JsonSerializer.Serialize(plan with { Evictions = [] }, LoadPlanJsonContext.Default.LoadPlan);

    /// <summary>The plan, or null when there is none or it was written in a shape this ullmd does not read.</summary>
    public static LoadPlan? Read(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(json, LoadPlanJsonContext.Default.LoadPlan);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Source-generated metadata for <see cref="LoadPlan"/> with System.Text.Json's default options (the stored shape).</summary>
[JsonSerializable(typeof(LoadPlan))]
internal sealed partial class LoadPlanJsonContext : JsonSerializerContext;

using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Config;

internal static partial class ConfigLoader
{
    private const int MaxPipelineStages = 64;

    /// <summary>
    /// pipeline_parallel_size and ray_address: a vLLM model served by a Ray cluster's nodes. Both are set together, on a
    /// vLLM model only, and the address is one Ray can join.
    /// </summary>
    private static ModelConfig BindVllmCluster(TomlSection s, ModelConfig model)
    {
        if (!s.Has("pipeline_parallel_size") && !s.Has("ray_address"))
        {
            return model;
        }

        var stages = (int)s.Integer("pipeline_parallel_size", 1, 1, MaxPipelineStages);
        var address = s.OptionalString("ray_address");
        if (model.Backend != BackendKind.Vllm)
        {
            s.Error(s.Has("pipeline_parallel_size") ? "pipeline_parallel_size" : "ray_address", $"applies to vLLM models only; backend '{model.BackendKey}' does not take it");
            return model;
        }

        if (stages == 1)
        {
            if (address is not null)
            {
                s.Error("ray_address", "a Ray cluster serves a model split over nodes: set pipeline_parallel_size (the number of nodes) above 1, or remove ray_address");
            }

            return model;
        }

        if (address is null)
        {
            s.ErrorAtTable($"pipeline_parallel_size = {stages} runs the engine on a Ray cluster: set ray_address to its head (\"HOST:PORT\", Ray's default port is 6379) or \"auto\"");
            return model;
        }

        if (address != "auto" && !RayAddress().IsMatch(address))
        {
            s.Error("ray_address", $"'{address}' is not a Ray head address: \"HOST:PORT\" (e.g. \"10.0.0.1:6379\") or \"auto\"");
        }

        return model with { Cluster = new VllmCluster(stages, address) };
    }

    [GeneratedRegex(@"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))(:[0-9]{1,5})$", RegexOptions.CultureInvariant)]
    private static partial Regex RayAddress();
}

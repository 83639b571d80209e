namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// llama-server options that ullmd's planner sets for every load, each with the model option that replaces it. One of
/// them in <c>extra_args</c> would silently make the plan wrong (llama-server takes the last value), so --check refuses it.
/// </summary>
internal static class LlamaServerOwnedFlags
{
    private static readonly (string[] Flags, string Instead)[] Owned =
    [
        (["-c", "--ctx-size"], "context (what one request may use; ullmd passes --ctx-size = parallel × context) and min_context"),
        (["-ngl", "--gpu-layers", "--n-gpu-layers"], "gpu_layers"),
        (["-np", "--parallel"], "parallel and min_parallel"),
        (["-ctk", "--cache-type-k"], "cache_type_k"),
        (["-ctv", "--cache-type-v"], "cache_type_v"),
        (["-fa", "--flash-attn"], "flash_attn"),
        (["-ts", "--tensor-split", "-sm", "--split-mode", "-mg", "--main-gpu"], "gpus (the planner splits a model over them)"),
        (["-dev", "--device"], "gpus"),
        (["-kvu", "--kv-unified", "-no-kvu", "--no-kv-unified", "--kv-unified-per-slot"], "parallel and context (ullmd gives each slot a KV cache of its own)"),
    ];

    /// <summary>The owned flag <paramref name="argument"/> sets ("--ctx-size" or "--ctx-size=4096") with its replacement, or null.</summary>
    public static (string Flag, string Instead)? Find(string argument)
    {
        var flag = argument.Split('=', 2)[0];
        foreach (var (flags, instead) in Owned)
        {
            if (flags.Contains(flag, StringComparer.Ordinal))
            {
                return (flag, instead);
            }
        }

        return null;
    }
}

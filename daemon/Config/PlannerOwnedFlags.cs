namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// Engine options that ullmd's planner sets for every load, each with what replaces it. One of them in <c>extra_args</c>
/// would silently make the plan wrong (llama-server and vLLM take the last value), so --check refuses it.
/// </summary>
internal static class PlannerOwnedFlags
{
    private static readonly (string[] Flags, string Instead)[] LlamaServer =
    [
        (["-c", "--ctx-size"], "the model option context (what one request may use; ullmd passes --ctx-size = parallel × context) and min_context"),
        (["-ngl", "--gpu-layers", "--n-gpu-layers"], "the model option gpu_layers"),
        (["-np", "--parallel"], "the model option parallel and min_parallel"),
        (["-ctk", "--cache-type-k"], "the model option cache_type_k"),
        (["-ctv", "--cache-type-v"], "the model option cache_type_v"),
        (["-fa", "--flash-attn"], "the model option flash_attn"),
        (["-ts", "--tensor-split", "-sm", "--split-mode", "-mg", "--main-gpu"], "the model option gpus (the planner splits a model over them)"),
        (["-dev", "--device"], "the model option gpus"),
        (["-kvu", "--kv-unified", "-no-kvu", "--no-kv-unified", "--kv-unified-per-slot"], "the model option parallel and context (ullmd gives each slot a KV cache of its own)"),
    ];

    private static readonly (string[] Flags, string Instead)[] Vllm =
    [
        (["--gpu-memory-utilization"], "no option (the plan derives it from the GPUs' memory)"),
        (["--max-model-len"], "the model option context"),
        (["--max-num-seqs"], "the model option parallel"),
        (["-tp", "--tensor-parallel-size"], "the model option gpus (the plan chooses the size from the usable GPUs)"),
        (["-pp", "--pipeline-parallel-size"], "the model option pipeline_parallel_size (with ray_address)"),
        (["--distributed-executor-backend"], "the model option pipeline_parallel_size (above 1 runs the engine on the Ray cluster at ray_address)"),
    ];

    /// <summary>
    /// The owned flag <paramref name="argument"/> sets ("--ctx-size" or "--ctx-size=4096") for <paramref name="backend"/>,
    /// with what to use instead; null when the planner does not own it (or plans nothing for that backend).
    /// </summary>
    public static (string Flag, string Instead)? Find(BackendKind backend, string argument)
    {
        var owned = backend switch
        {
            BackendKind.LlamaCpp => LlamaServer,
            BackendKind.Vllm => Vllm,
            _ => [],
        };
        var flag = argument.Split('=', 2)[0];
        foreach (var (flags, instead) in owned)
        {
            if (flags.Contains(flag, StringComparer.Ordinal))
            {
                return (flag, instead);
            }
        }

        return null;
    }
}

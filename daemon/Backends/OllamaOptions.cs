using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Ollama request options that pin a placement: <c>num_gpu</c> is the number of layers to offload (llama.cpp's -ngl,
/// the output head counting as a layer) and <c>num_ctx</c> the context of ONE request: Ollama allocates num_ctx tokens
/// of KV cache for each of its OLLAMA_NUM_PARALLEL slots.
/// </summary>
internal sealed record OllamaOptions(int NumGpu, ulong NumCtx)
{
    /// <summary>The plan sized the KV cache for its slots, each with <see cref="LoadPlan.ContextLength"/> tokens.</summary>
    public static OllamaOptions For(LoadPlan plan) => new(plan.GpuLayers, plan.ContextLength);
}

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// Ollama request options that pin a placement: <c>num_gpu</c> is the number of layers to offload (llama.cpp's -ngl,
/// the output head counting as a layer) and <c>num_ctx</c> the context length.
/// </summary>
internal sealed record OllamaOptions(int NumGpu, ulong NumCtx)
{
    public static OllamaOptions From(LlamaCppMemoryEstimate estimate) => new(estimate.GpuLayers, estimate.ContextLength);
}

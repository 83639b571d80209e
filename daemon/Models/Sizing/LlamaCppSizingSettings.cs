namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>Constants of the llama.cpp memory model that a deployment may tune.</summary>
internal sealed record LlamaCppSizingSettings
{
    /// <summary>
    /// Memory a GPU loses to the CUDA context, cuBLAS workspace and allocator slack before any buffer is allocated.
    /// Default 457 MiB: Ollama's minimum CUDA reserve (the figure its fitter subtracted per CUDA GPU), which sits above
    /// GPUStack's 250 MiB platform footprint, so plans err on the safe side until measured footprints correct them.
    /// </summary>
    public ulong GpuOverheadBytes { get; init; } = 457 * ByteFormat.MiB;

    /// <summary>llama-server's n_batch / n_ubatch (default 512); bounds the compute graph and the sliding-window cache.</summary>
    public ulong BatchSize { get; init; } = 512;
}

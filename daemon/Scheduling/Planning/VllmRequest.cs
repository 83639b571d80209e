using System.Globalization;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// A vLLM load to place: the model's profile (config.json and SafeTensors headers), the <c>max_model_len</c> asked for
/// and the least acceptable, the <c>max_num_seqs</c> asked for, the KV cache dtype and whether CUDA graphs are captured.
/// <see cref="AllowedGpus"/> pins the engine to those GPU indices (the model's <c>gpus</c>); null means any usable GPU.
/// <see cref="PipelineStages"/> above 1 (the model's <c>pipeline_parallel_size</c>) sizes this host's stage only.
/// </summary>
internal sealed record VllmRequest(
    string Name,
    ModelProfile Model,
    ulong MaxModelLen,
    ulong MinModelLen,
    int MaxNumSeqs,
    VllmKvCacheDtype KvCacheDtype,
    bool EnforceEager)
{
    public IReadOnlySet<int>? AllowedGpus { get; init; }

    public int PipelineStages { get; init; } = 1;
}

/// <summary>
/// How a planned vLLM engine is started: <c>--gpu-memory-utilization</c>, <c>--max-model-len</c>, <c>--max-num-seqs</c>,
/// <c>--tensor-parallel-size</c>; <see cref="Need"/> is what each GPU needs at these limits and <see cref="Steps"/> names
/// what the planner gave up to fit (empty when nothing).
/// </summary>
internal sealed record VllmLaunch(
    double GpuMemoryUtilization,
    ulong MaxModelLen,
    int MaxNumSeqs,
    int TensorParallelSize,
    VllmKvCacheDtype KvCacheDtype,
    VllmGpuNeed Need,
    string Steps)
{
    /// <summary>This host's pipeline stage when the engine spans a Ray cluster; null when it runs here whole.</summary>
    public VllmStage? Stage { get; init; }

    public string Describe() =>
        $"vLLM {string.Join(' ', Arguments())}{(KvCacheDtype == VllmKvCacheDtype.Fp8 ? " --kv-cache-dtype fp8" : "")}"
        + (Stage is { } stage ? $" --pipeline-parallel-size {stage.Stages}; {stage.Describe()}" : "")
        + $"; per GPU: {Need.Describe()}"
        + (Steps.Length == 0 ? "" : $"; {Steps}");

    /// <summary>The flags of <c>vllm serve</c> that this plan sets, in the driver's order, as flag and value.</summary>
    public IReadOnlyList<string> Arguments() =>
    [
        "--gpu-memory-utilization", GpuMemoryUtilization.ToString("0.00", CultureInfo.InvariantCulture),
        "--max-model-len", MaxModelLen.ToString(CultureInfo.InvariantCulture),
        "--max-num-seqs", MaxNumSeqs.ToString(CultureInfo.InvariantCulture),
        "--tensor-parallel-size", TensorParallelSize.ToString(CultureInfo.InvariantCulture),
    ];
}

/// <summary>The first of <see cref="Stages"/> pipeline stages, the one this host runs: the token embeddings and the first <see cref="Layers"/> of <see cref="TotalLayers"/> layers.</summary>
internal sealed record VllmStage(int Stages, int Layers, int TotalLayers)
{
    public string Describe() =>
        $"this host runs pipeline stage 1 of {Stages}, sized for the token embeddings and layers 0-{Layers - 1} of {TotalLayers} with their KV cache (Ray places the other stages)";
}

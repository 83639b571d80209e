using System.Text;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// Predicted memory of one llama-server instance, term by term. <see cref="GpuLayers"/> follows llama.cpp's -ngl:
/// the last N layers go to the GPUs, and the output head too when N exceeds the layer count.
/// </summary>
internal sealed record LlamaCppMemoryEstimate(
    string Model,
    ulong ContextLength,
    GgmlType CacheType,
    int GpuLayers,
    int LayerCount,
    IReadOnlyList<GpuMemoryShare> Gpus,
    ulong HostWeightBytes,
    ulong HostKvBytes,
    ulong HostComputeBytes)
{
    public ulong GpuTotalBytes => Gpus.Aggregate(0UL, (sum, g) => sum + g.TotalBytes);

    public ulong HostTotalBytes => HostWeightBytes + HostKvBytes + HostComputeBytes;

    public bool FullyOffloaded => GpuLayers > LayerCount;

    public string Breakdown()
    {
        var text = new StringBuilder();
        var placement = Gpus.Count == 0 ? "CPU only" : $"{Math.Min(GpuLayers, LayerCount + 1)}/{LayerCount + 1} layers on GPU (incl. output)";
        text.Append($"{Model}: n_ctx {ContextLength}, KV {CacheType.ToString().ToLowerInvariant()}, {placement}");
        for (var i = 0; i < Gpus.Count; i++)
        {
            var g = Gpus[i];
            var layers = g.Layers == 0 ? "no layers" : $"layers {g.FirstLayer}-{g.FirstLayer + g.Layers - 1}";
            text.Append($"\n  GPU share {i}: weights {ByteFormat.Format(g.WeightBytes)} ({layers}{(g.HasOutput ? " + output" : string.Empty)})")
                .Append($" + KV {ByteFormat.Format(g.KvBytes)} + compute {ByteFormat.Format(g.ComputeBytes)}")
                .Append($" + CUDA overhead {ByteFormat.Format(g.OverheadBytes)} = {ByteFormat.Format(g.TotalBytes)}");
        }

        text.Append($"\n  host: weights {ByteFormat.Format(HostWeightBytes)} + KV {ByteFormat.Format(HostKvBytes)}")
            .Append($" + compute {ByteFormat.Format(HostComputeBytes)} = {ByteFormat.Format(HostTotalBytes)}");
        return text.ToString();
    }
}

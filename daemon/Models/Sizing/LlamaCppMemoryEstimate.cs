using System.Text;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// Predicted memory of one llama-server instance, term by term. <see cref="GpuLayers"/> follows llama.cpp's -ngl:
/// the last N layers go to the GPUs, and the output head too when N exceeds the layer count. <see cref="ContextLength"/>
/// is one slot's context; llama-server runs <see cref="Slots"/> of them, each with a KV cache of its own.
/// </summary>
internal sealed record LlamaCppMemoryEstimate(
    string Model,
    ulong ContextLength,
    KvCacheType CacheType,
    int GpuLayers,
    int LayerCount,
    IReadOnlyList<GpuMemoryShare> Gpus,
    ulong HostWeightBytes,
    ulong HostKvBytes,
    ulong HostComputeBytes)
{
    public int Slots { get; init; } = 1;

    public ulong GpuTotalBytes => Gpus.Aggregate(0UL, (sum, g) => sum + g.TotalBytes);

    public ulong HostTotalBytes => HostWeightBytes + HostKvBytes + HostComputeBytes;

    public bool FullyOffloaded => GpuLayers > LayerCount;

    public string Breakdown()
    {
        var text = new StringBuilder();
        var placement = Gpus.Count == 0 ? "CPU only" : $"{Math.Min(GpuLayers, LayerCount + 1)}/{LayerCount + 1} layers on GPU (incl. output)";
        var context = Slots == 1 ? $"n_ctx {ContextLength}" : $"{Slots} slots × n_ctx {ContextLength}";
        text.Append($"{Model}: {context}, KV {CacheType}, {placement}");
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

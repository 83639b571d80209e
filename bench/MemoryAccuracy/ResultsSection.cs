using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Bench.MemoryAccuracy;

/// <summary>This benchmark's section of bench/RESULTS.md.</summary>
internal static class ResultsSection
{
    public static string Render(IReadOnlyList<MeasuredLoad> rows, ulong context, string llamaServer)
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine("## Host-memory estimate vs a real CPU-only llama-server")
            .AppendLine()
            .AppendLine(inv, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Machine()}, with `bash bench/memory-accuracy.sh`, load average {LoadAverage()} at the end.")
            .AppendLine(inv, $"llama-server: `{llamaServer}`, `--n-gpu-layers 0 --load-mode none --fit off --no-kv-unified --flash-attn auto`,")
            .AppendLine(inv, $"`--ctx-size` = slots × {context}, `--parallel` slots, `--cache-type-k/-v` the KV type: the argv ullmd gives a CPU-only load.")
            .AppendLine("The first two models are random-weight llama models with the writer's 298-token vocabulary; the others are")
            .AppendLine("Llama-3.2-1B and Qwen2.5-0.5B as published (layers, heads, KV heads, n_embd, n_ff, vocabulary of 128,256 and")
            .AppendLine("151,936 tokens, tied output, Qwen's QKV biases) with zero weights, written by the same writer (TinyModel).")
            .AppendLine("llama.cpp's buffers are the sizes it logs at load (compute includes its output buffer); VmHWM is the process's")
            .AppendLine("peak resident set after one completion. Each cell: ullmd's estimate / llama.cpp's buffer (ratio).")
            .AppendLine()
            .AppendLine("| model | vocab | weights | slots | KV | weights | KV cache | compute | total | VmHWM (total / VmHWM) |")
            .AppendLine("|-------|------:|---------|------:|----|---------|----------|---------|-------|------:|");
        foreach (var row in rows)
        {
            var e = row.Estimate;
            var b = row.Measured.Buffers.Host;
            text.AppendLine(inv, $"| {row.Case.Shape.Name} ({row.Parameters / 1e6:F0} M) | {row.VocabSize} | {row.Case.Weights} | {row.Case.Slots} | {row.Case.Cache} | {Cell(e.HostWeightBytes, b.ModelBytes)} | {Cell(e.HostKvBytes, b.KvBytes)} | {Cell(e.HostComputeBytes, b.ComputeBytes)} | {Cell(e.HostTotalBytes, b.TotalBytes)} | {F(row.Measured.Process.PeakResidentBytes)} ({row.ResidentRatio:F3}) |");
        }

        text.AppendLine()
            .AppendLine("VmHWM counts only touched pages: one short completion leaves most KV cells untouched, while the process itself")
            .AppendLine("(code, HTTP server) adds a fixed amount. Target (issue #20): every total within 5% of llama.cpp's buffers.");
        return text.ToString();

        static string F(ulong bytes) => ByteFormat.Format(bytes);
        static string Cell(ulong estimate, ulong measured) =>
            string.Create(CultureInfo.InvariantCulture, $"{F(estimate)} / {F(measured)} ({(measured == 0 ? double.NaN : (double)estimate / measured):F3})");
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memory = File.ReadLines("/proc/meminfo").First().Split(':', 2)[1].Trim();
        return $"{cpu}, {Environment.ProcessorCount} cores, {memory} RAM, {RuntimeInformation.OSDescription}";
    }
}

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
            .AppendLine(inv, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Machine()}, with `bash bench/memory-accuracy.sh`.")
            .AppendLine(inv, $"llama-server: `{llamaServer}`, `--n-gpu-layers 0 --load-mode none --fit off --ctx-size {context} --parallel 1`, F16 weights and KV cache,")
            .AppendLine("random-weight llama models written by our GGUF writer. llama.cpp's buffers are the sizes it logs at load; VmHWM is")
            .AppendLine("the process's peak resident set after one completion.")
            .AppendLine()
            .AppendLine("| model | parameters | ullmd's estimate: weights + KV + compute = total | llama.cpp's buffers: model + KV + compute = total | estimate / buffers | VmHWM | estimate / VmHWM |")
            .AppendLine("|-------|-----------:|------------------------------------------|------------------------------------------|------:|------:|------:|");
        foreach (var row in rows)
        {
            var e = row.Estimate;
            var b = row.Measured.Buffers.Host;
            text.AppendLine(inv, $"| {row.File} | {row.Parameters / 1e6:F0} M | {F(e.HostWeightBytes)} + {F(e.HostKvBytes)} + {F(e.HostComputeBytes)} = {F(e.HostTotalBytes)} | {F(b.ModelBytes)} + {F(b.KvBytes)} + {F(b.ComputeBytes)} = {F(b.TotalBytes)} | {row.BufferRatio:F3} | {F(row.Measured.Process.PeakResidentBytes)} | {row.ResidentRatio:F3} |");
        }

        text.AppendLine()
            .AppendLine("Weights and KV cache match llama.cpp's own sizes; the compute term uses Ollama's generic graph formula, which is")
            .AppendLine("conservative for CPU graphs (and these models' 298-token vocabulary makes the graph unusually small). VmHWM")
            .AppendLine("counts only touched pages: one short completion leaves most KV cells untouched, while the process itself")
            .AppendLine("(code, HTTP server) adds a fixed amount. Target: within 10%.");
        return text.ToString();

        static string F(ulong bytes) => ByteFormat.Format(bytes);
    }

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memory = File.ReadLines("/proc/meminfo").First().Split(':', 2)[1].Trim();
        return $"{cpu}, {Environment.ProcessorCount} cores, {memory} RAM, {RuntimeInformation.OSDescription}";
    }
}

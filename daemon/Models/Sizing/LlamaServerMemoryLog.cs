using System.Globalization;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>
/// llama.cpp's own buffer accounting, from the lines llama-server logs while loading, e.g.
/// "load_tensors:        CUDA0 model buffer size =  3577.56 MiB", "llama_kv_cache: CUDA0 KV buffer size = 512.00 MiB",
/// "sched_reserve: CUDA_Host compute buffer size = 16.01 MiB". Devices named like CUDA0 or ROCm1 are GPUs (numbered in
/// the backend's visible-device order); CPU, CPU_Mapped and the *_Host buffers live in host RAM.
/// </summary>
internal static partial class LlamaServerMemoryLog
{
    public static LlamaBufferReport Parse(IEnumerable<string> lines)
    {
        var gpus = new SortedDictionary<int, BufferSizes>();
        var host = new BufferSizes(0, 0, 0);
        foreach (var line in lines)
        {
            if (BufferLine().Match(line) is not { Success: true } match)
            {
                continue;
            }

            var bytes = (ulong)Math.Round(double.Parse(match.Groups["mib"].Value, CultureInfo.InvariantCulture) * ByteFormat.MiB);
            var kind = match.Groups["kind"].Value;
            if (GpuDevice().Match(match.Groups["device"].Value) is { Success: true } gpu)
            {
                var ordinal = int.Parse(gpu.Groups["ordinal"].Value, CultureInfo.InvariantCulture);
                gpus[ordinal] = (gpus.TryGetValue(ordinal, out var sizes) ? sizes : new BufferSizes(0, 0, 0)).Add(kind, bytes);
            }
            else
            {
                host = host.Add(kind, bytes);
            }
        }

        return new LlamaBufferReport(gpus.Values.ToArray(), host);
    }

    [GeneratedRegex(@"\b(?<device>[A-Za-z]+[A-Za-z0-9_]*?)\s+(?<kind>model|KV|compute|output) buffer size =\s+(?<mib>[0-9]+(?:\.[0-9]+)?) MiB")]
    private static partial Regex BufferLine();

    [GeneratedRegex(@"^(?:CUDA|ROCm|Vulkan|SYCL|MUSA)(?<ordinal>[0-9]+)$")]
    private static partial Regex GpuDevice();
}

/// <summary>One device's llama.cpp buffers: weights, KV cache, and compute (scratch plus output) buffers.</summary>
internal sealed record BufferSizes(ulong ModelBytes, ulong KvBytes, ulong ComputeBytes)
{
    public ulong TotalBytes => ModelBytes + KvBytes + ComputeBytes;

    public BufferSizes Add(string kind, ulong bytes) => kind switch
    {
        "model" => this with { ModelBytes = ModelBytes + bytes },
        "KV" => this with { KvBytes = KvBytes + bytes },
        _ => this with { ComputeBytes = ComputeBytes + bytes },
    };
}

/// <summary>Buffers per GPU (in the backend's device order) and in host RAM.</summary>
internal sealed record LlamaBufferReport(IReadOnlyList<BufferSizes> Gpus, BufferSizes Host)
{
    public bool IsEmpty => Gpus.Count == 0 && Host.TotalBytes == 0;
}

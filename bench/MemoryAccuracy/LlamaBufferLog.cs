using System.Globalization;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Bench.MemoryAccuracy;

/// <summary>llama.cpp's CPU buffer sizes as llama-server logs them at load ("CPU model buffer size = 393.29 MiB").</summary>
internal sealed partial class LlamaBufferLog
{
    private readonly Lock gate = new();
    private double modelMiB;
    private double kvMiB;
    private double computeMiB;

    public void Observe(string? line)
    {
        if (line is null || BufferLine().Match(line) is not { Success: true } match)
        {
            return;
        }

        var mib = double.Parse(match.Groups["mib"].Value, CultureInfo.InvariantCulture);
        lock (gate)
        {
            switch (match.Groups["kind"].Value)
            {
                case "model": modelMiB += mib; break;
                case "KV": kvMiB += mib; break;
                case "compute": computeMiB += mib; break;
            }
        }
    }

    public LlamaBuffers Snapshot()
    {
        lock (gate)
        {
            return new LlamaBuffers(ToBytes(modelMiB), ToBytes(kvMiB), ToBytes(computeMiB));
        }
    }

    private static ulong ToBytes(double mib) => (ulong)Math.Round(mib * 1024 * 1024);

    [GeneratedRegex(@"\bCPU(?:_Mapped)?\s+(?<kind>model|KV|compute) buffer size =\s+(?<mib>[0-9.]+) MiB")]
    private static partial Regex BufferLine();
}

internal sealed record LlamaBuffers(ulong ModelBytes, ulong KvBytes, ulong ComputeBytes)
{
    public ulong TotalBytes => ModelBytes + KvBytes + ComputeBytes;
}

using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Bench.MemoryAccuracy;

internal sealed record MeasuredLoad(AccuracyCase Case, ulong Parameters, ulong VocabSize, LlamaCppMemoryEstimate Estimate, ServerMeasurement Measured)
{
    /// <summary>Estimate over the peak resident set: 1.00 is exact, below 1 under-estimates.</summary>
    public double ResidentRatio => (double)Estimate.HostTotalBytes / Measured.Process.PeakResidentBytes;

    /// <summary>Estimate over llama.cpp's own model + KV + compute buffers.</summary>
    public double BufferRatio => (double)Estimate.HostTotalBytes / Measured.Buffers.Host.TotalBytes;
}

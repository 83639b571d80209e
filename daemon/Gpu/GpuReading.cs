namespace UnifiedLlm.Daemon.Gpu;

/// <summary>A snapshot plus the GPUs left out of it because reading them failed.</summary>
internal sealed record GpuReading(GpuSnapshot Snapshot, IReadOnlyList<GpuReadFailure> Failures);

/// <summary>Reading GPU <see cref="Index"/> failed with <see cref="Error"/> (an <see cref="NvmlException"/> or a layout error).</summary>
internal sealed record GpuReadFailure(int Index, Exception Error);

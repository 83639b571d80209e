namespace UnifiedLlm.Daemon.Gpu;

internal sealed record GpuMonitorOptions
{
    /// <summary>How often GPUs are read.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often NVML is tried again while in CPU mode (<see cref="GpuMonitor.RefreshAsync"/> tries at once).</summary>
    public TimeSpan CpuModeRetryInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Library paths tried in order; build from <c>[gpu] nvml_library</c> with <see cref="NvmlLibrarySearch.Candidates"/>.</summary>
    public IReadOnlyList<string> NvmlLibraryCandidates { get; init; } = NvmlLibrarySearch.Candidates(null);
}

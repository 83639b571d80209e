namespace UnifiedLlm.Daemon.Gpu;

/// <summary>Which PIDs belong to which of our backend units right now (read from the kernel's cgroups).</summary>
internal interface IUnitPidSource
{
    /// <summary>PID → unit name for every process in our units.</summary>
    ValueTask<IReadOnlyDictionary<int, string>> GetUnitPidsAsync(CancellationToken cancellationToken);
}

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>A systemd job ended with a result other than "done"/"skipped"; <see cref="UnitResult"/> is the unit's Result when it could be read.</summary>
internal sealed class SystemdJobFailedException(string unit, string jobResult, string? unitResult)
    : Exception($"systemd job for {unit} ended with \"{jobResult}\"{(unitResult is null ? "" : $" (unit Result: {unitResult})")}")
{
    public string Unit { get; } = unit;

    public string JobResult { get; } = jobResult;

    public string? UnitResult { get; } = unitResult;
}

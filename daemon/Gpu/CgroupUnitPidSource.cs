namespace UnifiedLlm.Daemon.Gpu;

/// <summary>Maps PIDs to units by reading each running unit's cgroup.procs.</summary>
/// <param name="units">The units to look at now, e.g. the supervisor's running backends with their ControlGroup.</param>
internal sealed class CgroupUnitPidSource(Func<IReadOnlyCollection<UnitControlGroup>> units) : IUnitPidSource
{
    public async ValueTask<IReadOnlyDictionary<int, string>> GetUnitPidsAsync(CancellationToken cancellationToken)
    {
        var unitByPid = new Dictionary<int, string>();
        foreach (var unit in units())
        {
            foreach (var pid in await CgroupProcs.ReadAsync(unit.ControlGroup, cancellationToken))
            {
                unitByPid[pid] = unit.Unit;
            }
        }

        return unitByPid;
    }
}

namespace UnifiedLlm.Daemon.Supervision;

internal sealed class BackendNotFoundException(string unitName)
    : Exception($"no backend unit named '{unitName}' is known to this supervisor")
{
    public string UnitName { get; } = unitName;
}

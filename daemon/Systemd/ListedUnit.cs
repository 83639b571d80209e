namespace UnifiedLlm.Daemon.Systemd;

/// <summary>One row of ListUnits/ListUnitsByPatterns (<c>(ssssssouso)</c>).</summary>
internal sealed record ListedUnit(
    string Name,
    string Description,
    string LoadState,
    string ActiveState,
    string SubState,
    string Following,
    string ObjectPath,
    uint JobId,
    string JobType,
    string JobPath);

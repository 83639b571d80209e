using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>
/// Finds the backend units a previous ullmd left running, so a restarted daemon can adopt them instead of starting
/// duplicates. The model is read back from the unit's LogExtraFields (ULLM_MODEL=…) because the unit name holds
/// only an escaped, possibly shortened form of it; the owner mark (ULLM_OWNER=…, see Supervision.BackendOwner) too.
/// </summary>
internal static class BackendUnitDiscovery
{
    public const string ModelField = "ULLM_MODEL";
    public const string OwnerField = "ULLM_OWNER";

    private static readonly string[] LiveStates = ["active", "activating", "deactivating", "reloading"];

    public static async Task<IReadOnlyList<BackendUnit>> FindAsync(SystemdManager systemd, CancellationToken cancellationToken)
    {
        var found = new List<BackendUnit>();
        foreach (var unit in await systemd.ListUnitsByPatternsAsync(LiveStates, [UnitName.Pattern], cancellationToken))
        {
            try
            {
                var fields = await systemd.GetLogExtraFieldsAsync(unit.Name, cancellationToken);
                var status = await systemd.GetUnitStatusAsync(unit.Name, cancellationToken);
                found.Add(new BackendUnit(unit.Name, fields.GetValueOrDefault(ModelField), status, fields.GetValueOrDefault(OwnerField)));
            }
            catch (DBusErrorException e) when (e.ErrorName is "org.freedesktop.systemd1.NoSuchUnit" or "org.freedesktop.DBus.Error.UnknownObject"
                or "org.freedesktop.DBus.Error.UnknownProperty" or "org.freedesktop.DBus.Error.UnknownInterface")
            {
                // The unit ended and was collected between the listing and the reads (reading it then loads an
                // empty "not-found" unit without Service properties): nothing to adopt.
            }
        }

        return found;
    }
}

using System.Security.Cryptography;
using System.Text;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Which backend units are this ullmd's, when several ullmd (each with its own data_dir) share one systemd. Every unit
/// it starts carries <c>ULLM_OWNER=&lt;id&gt;</c> in its LogExtraFields, where the id is a short hash of the data
/// directory's full path: stable across restarts with nothing to store, different for every data directory (whose
/// database records the instances), and filterable in the journal (<c>journalctl ULLM_OWNER=…</c>). A property rather
/// than a part of the unit name keeps names as they were (and as short). A unit counts as ours when it carries our
/// id, or when our database has a record of its name (unit names hold a random instance id): so units started before
/// owner marks existed are still adopted after an upgrade, and units of a moved data directory are still found, while
/// another ullmd's units (another id, no record here) are never listed, stopped or reset.
/// The process supervisor needs no mark: it only finds processes writing into its own <c>data_dir/backends</c>.
/// </summary>
internal sealed class BackendOwner(string id, Func<string, CancellationToken, Task<bool>> isRecorded)
{
    public const string Field = BackendUnitDiscovery.OwnerField;

    public string Id { get; } = id;

    /// <summary>The owner of the units of the ullmd using <paramref name="dataDir"/>, with its instance records in <paramref name="store"/>.</summary>
    public static BackendOwner For(string dataDir, InstanceStore store) =>
        new(IdFor(dataDir), async (unit, cancellationToken) => await store.GetByUnitAsync(unit, cancellationToken) is not null);

    /// <summary>"d" and the first 12 hex digits of the SHA-256 of the data directory's full path (without a trailing slash).</summary>
    public static string IdFor(string dataDir)
    {
        var path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataDir));
        return "d" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)))[..12];
    }

    /// <summary>True when the unit carries our id, or our database records it (see the class remarks).</summary>
    public async Task<bool> OwnsAsync(string unit, string? mark, CancellationToken cancellationToken) =>
        mark == Id || await isRecorded(unit, cancellationToken);
}

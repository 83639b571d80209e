using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Doctor;

/// <summary>
/// The facts for <c>ullmd --doctor</c>, found as ullmd would find them at start, but without starting: the supervisor
/// it would choose (asking systemd on its bus), NVML (the same library search), and the keys in its database when
/// there is one (opened as at start, which also applies pending migrations; a missing database is not created).
/// </summary>
internal static class OfflineFacts
{
    public static async Task<DaemonFacts> GatherAsync(UllmConfig config, TimeProvider time, CancellationToken cancellationToken)
    {
        var (supervisor, supervisorFailure) = await SupervisorAsync(config.Server, cancellationToken);
        var (cpuModeReason, gpus) = Gpus(config.Gpu);
        var (keys, databaseFailure) = await KeysAsync(config.Server.DatabasePath, time, cancellationToken);
        return new DaemonFacts(null, supervisor, cpuModeReason, gpus, keys, databaseFailure, supervisorFailure);
    }

    private static async Task<(string Kind, string? Failure)> SupervisorAsync(ServerConfig server, CancellationToken cancellationToken)
    {
        try
        {
            var (bus, _) = await SupervisorSelection.ChooseAsync(
                server, SupervisorSelection.HostBootedWithSystemd, SystemdWait.SingleAttempt, NullLogger<SystemdBus>.Instance, _ => { }, cancellationToken);
            if (bus is null)
            {
                return (EnumNames.Supervisors.NameOf(SupervisorKind.Process), null);
            }

            await bus.DisposeAsync();
            return (EnumNames.Supervisors.NameOf(SupervisorKind.Systemd), null);
        }
        catch (SupervisorUnavailableException e)
        {
            return (EnumNames.Supervisors.NameOf(SupervisorKind.Systemd), e.Message);
        }
    }

    private static (string? CpuModeReason, int Gpus) Gpus(GpuConfig gpu)
    {
        if (!NvmlSession.TryOpen(NvmlLibrarySearch.Candidates(gpu.NvmlLibrary), out var session, out var reason))
        {
            return (reason, 0);
        }

        using (session)
        {
            return (null, session.GpuCount);
        }
    }

    private static async Task<(IReadOnlyList<ApiKeyRecord> Keys, string? Failure)> KeysAsync(string databasePath, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!File.Exists(databasePath))
        {
            return ([], null);
        }

        try
        {
            var database = await Database.OpenAsync(databasePath, cancellationToken);
            var now = time.GetUtcNow();
            return ([.. (await new ApiKeyStore(database, time).ListAsync(includeRevoked: false, cancellationToken)).Where(k => k.IsActive(now))], null);
        }
        catch (StorageException e)
        {
            return ([], e.Message);
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            return ([], $"cannot read the API keys from {databasePath}: {e.Message}");
        }
    }
}

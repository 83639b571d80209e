using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>Deletes audit rows older than <c>[audit] retention_days</c> at start and then every hour.</summary>
internal sealed class AuditRetention(AuditStore audit, ConfigHolder config, TimeProvider time, ILogger<AuditRetention> logger)
    : RetentionService(time, logger, "audit row(s)", "the audit log")
{
    protected override int RetentionDays => config.Current.Audit.RetentionDays;

    protected override Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        audit.DeleteOlderThanAsync(cutoff, cancellationToken);
}

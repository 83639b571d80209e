using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>Deletes audit rows older than <c>[audit] retention_days</c> at start and then every hour.</summary>
internal sealed class AuditRetention(AuditStore audit, ConfigHolder config, TimeProvider time, ILogger<AuditRetention> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            await PruneAsync(stoppingToken);
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        var days = config.Current.Audit.RetentionDays;
        try
        {
            var deleted = await audit.DeleteOlderThanAsync(time.GetUtcNow().AddDays(-days), cancellationToken);
            if (deleted > 0)
            {
                logger.LogInformation("Deleted {Count} audit row(s) older than {Days} days", deleted, days);
            }
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            // A busy or failing database must not stop the daemon; the next round tries again.
            logger.LogWarning("Could not prune the audit log: {Message}", e.Message);
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

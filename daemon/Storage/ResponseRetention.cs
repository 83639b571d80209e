using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// Deletes stored responses older than <c>[responses] retention_days</c> at start and then every hour, as
/// <see cref="AuditRetention"/> does for the audit log. Reads already skip expired rows, so the hour between rounds
/// never shows one.
/// </summary>
internal sealed class ResponseRetention(ResponseStore responses, ConfigHolder config, TimeProvider time, ILogger<ResponseRetention> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(AuditRetention.Interval, time);
        do
        {
            await PruneAsync(stoppingToken);
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        var days = config.Current.Responses.RetentionDays;
        try
        {
            var deleted = await responses.DeleteOlderThanAsync(time.GetUtcNow().AddDays(-days), cancellationToken);
            if (deleted > 0)
            {
                logger.LogInformation("Deleted {Count} stored response(s) older than {Days} days", deleted, days);
            }
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            // A busy or failing database must not stop the daemon; the next round tries again.
            logger.LogWarning("Could not prune the stored responses: {Message}", e.Message);
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

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// Deletes rows older than a configured number of days, at start and then every <see cref="Interval"/>. A busy or failing
/// database is logged and tried again next round; it never stops the daemon.
/// </summary>
/// <param name="what">What is deleted, as the log names it ("audit row(s)").</param>
/// <param name="store">Where it is kept, as the log names it ("the audit log").</param>
internal abstract class RetentionService(TimeProvider time, ILogger logger, string what, string store) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    protected abstract int RetentionDays { get; }

    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        var days = RetentionDays;
        try
        {
            var deleted = await DeleteOlderThanAsync(time.GetUtcNow().AddDays(-days), cancellationToken);
            if (deleted > 0)
            {
                logger.LogInformation("Deleted {Count} {What} older than {Days} days", deleted, what, days);
            }
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            logger.LogWarning("Could not prune {Store}: {Message}", store, e.Message);
        }
    }

    protected abstract Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            await PruneAsync(stoppingToken);
        }
        while (await WaitAsync(timer, stoppingToken));
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

using Microsoft.Data.Sqlite;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// Writes API keys' last-use times (kept in memory by <see cref="ApiKeyStore"/>) every few seconds and once more at
/// stop, off the request path: a locked or full database delays the record, never a request.
/// </summary>
internal sealed partial class ApiKeyUseRecorder(ApiKeyStore keys, TimeProvider time, ILogger<ApiKeyUseRecorder> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await RecordAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await RecordAsync(CancellationToken.None);
    }

    private async Task RecordAsync(CancellationToken cancellationToken)
    {
        try
        {
            await keys.RecordUsesAsync(cancellationToken);
        }
        catch (SqliteException e)
        {
            LogNotRecorded(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record API keys' last use (kept for the next try): {Reason}")]
    private static partial void LogNotRecorded(ILogger logger, string reason);
}

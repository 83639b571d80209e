using Microsoft.Data.Sqlite;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Writes queued audit rows in batches of up to <see cref="MaxBatch"/>, gathered for at most <see cref="BatchLinger"/>;
/// drains the queue on shutdown. Retention is <see cref="AuditRetention"/>'s.
/// </summary>
internal sealed partial class AuditWriter(AuditQueue queue, AuditStore store, TimeProvider time, ILogger<AuditWriter> logger) : BackgroundService
{
    public const int MaxBatch = 512;

    /// <summary>
    /// How long the writer gathers rows after the first one arrives. Writing each row in a transaction of its own as it
    /// came took more CPU than proxying the request, on the same cores as the request path.
    /// </summary>
    public static readonly TimeSpan BatchLinger = TimeSpan.FromMilliseconds(50);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<AuditRow>(MaxBatch);
        // Rows are drained even while stopping: the reader ends when the queue is completed, not when the host stops.
        while (await queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            if (queue.Reader.Count < MaxBatch)
            {
                // On shutdown the linger ends at once and what is queued is written.
                await Task.Delay(BatchLinger, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var row))
            {
                batch.Add(row);
            }

            await WriteAsync(batch);
            batch.Clear();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Complete();
        await base.StopAsync(cancellationToken);
    }

    private async Task WriteAsync(List<AuditRow> batch)
    {
        try
        {
            await store.InsertAsync(batch, CancellationToken.None);
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
        {
            queue.CountDropped(batch.Count);
            LogWriteFailed(logger, batch.Count, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "audit: {Count} rows could not be written and are counted as dropped: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, int count, string reason);
}

using Microsoft.Data.Sqlite;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Writes queued audit rows in batches of up to <see cref="MaxBatch"/>: at once when a request waits for its row's
/// commit (what queued up meanwhile shares the transaction), otherwise gathered for at most <see cref="BatchLinger"/>.
/// Drains the queue on shutdown. Retention is <see cref="AuditRetention"/>'s.
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
        var batch = new List<AuditQueue.QueuedRow>(MaxBatch);
        // Rows are drained even while stopping: the reader ends when the queue is completed, not when the host stops.
        while (await queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            var commitAsked = queue.NextCommitAsked();
            if (queue.Reader.Count < MaxBatch && !queue.CommitWaiting)
            {
                // On shutdown, or when a request starts waiting for its row, the linger ends at once.
                using var linger = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                await Task.WhenAny(Task.Delay(BatchLinger, time, linger.Token), commitAsked);
                await linger.CancelAsync();
            }

            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var row))
            {
                batch.Add(row);
            }

            queue.WriteStarted(batch.Count(r => r.Committed is not null));
            var written = await WriteAsync(batch);
            queue.WriteEnded(written);
            foreach (var row in batch)
            {
                row.Committed?.TrySetResult();
            }

            batch.Clear();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Complete();
        await base.StopAsync(cancellationToken);
    }

    private async Task<bool> WriteAsync(List<AuditQueue.QueuedRow> batch)
    {
        try
        {
            await store.InsertAsync([.. batch.Select(r => r.Row)], CancellationToken.None);
            return true;
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
        {
            queue.CountDropped(batch.Count);
            LogWriteFailed(logger, batch.Count, e.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "audit: {Count} rows could not be written and are counted as dropped: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, int count, string reason);
}

using Microsoft.Data.Sqlite;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Writes queued audit rows in batches of up to <see cref="MaxBatch"/>: at once when a request waits for its row's
/// commit (what queued up meanwhile shares the transaction), otherwise gathered for at most <see cref="BatchLinger"/>.
/// Drains the queue on shutdown. With a <see cref="AuditJournal"/>, it first writes the rows a killed ullmd left in it,
/// then has the queue journal every row. Retention is <see cref="AuditRetention"/>'s.
/// </summary>
internal sealed partial class AuditWriter(AuditQueue queue, AuditStore store, TimeProvider time, ILogger<AuditWriter> logger, AuditJournal? journal = null)
    : BackgroundService
{
    public const int MaxBatch = 512;

    /// <summary>
    /// How long the writer gathers rows after the first one arrives. Writing each row in a transaction of its own as it
    /// came took more CPU than proxying the request, on the same cores as the request path.
    /// </summary>
    public static readonly TimeSpan BatchLinger = TimeSpan.FromMilliseconds(50);

    /// <summary>The connection and prepared insert, kept from batch to batch (null before the first batch and after a failed one).</summary>
    private AuditInserter? inserter;

    /// <summary>Before any request is served: the journal's leftover rows go to SQLite, and the journal opens empty.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (journal is not null)
        {
            await RecoverAsync(journal, cancellationToken);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<AuditQueue.QueuedRow>(MaxBatch);
        var rows = new List<AuditRow>(MaxBatch);
        var journalled = queue.Journalled;
        try
        {
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

                var waited = 0;
                while (batch.Count < MaxBatch && queue.Reader.TryRead(out var row))
                {
                    batch.Add(row);
                    rows.Add(row.Row);
                    waited += row.Committed is null ? 0 : 1;
                }

                queue.WriteStarted(waited);
                var written = await WriteAsync(rows);
                queue.WriteEnded(written);
                queue.Dealt(batch.Count);
                foreach (var row in batch)
                {
                    row.Committed?.TrySetResult();
                }

                batch.Clear();
                rows.Clear();
                if (queue.Journalled != journalled)
                {
                    journalled = !journalled;
                    LogJournal(logger, journal?.Path ?? "", journalled ? "takes rows again" : "cannot take rows; answers wait for their rows' commit instead");
                }
            }
        }
        finally
        {
            await CloseInserterAsync();
        }
    }

    private async Task RecoverAsync(AuditJournal opening, CancellationToken cancellationToken)
    {
        try
        {
            var leftover = AuditJournal.ReadLeftover(opening.Path, bad => LogJournalLine(logger, bad));
            if (leftover.Count > 0)
            {
                // A row already in SQLite (ullmd was killed between a batch's commit and the journal's emptying) is not
                // written twice; request ids are unique across restarts.
                var written = await store.RequestIdsSinceAsync(leftover.Min(r => r.Time), cancellationToken);
                var missing = leftover.Where(r => !written.Contains(r.RequestId)).ToList();
                await store.InsertAsync(missing, cancellationToken);
                LogRecovered(logger, missing.Count, leftover.Count - missing.Count, opening.Path);
            }

            opening.Open();
            queue.UseJournal(opening);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
        {
            // The journal stays as it is for the next start; meanwhile answers wait for their rows' commit.
            LogJournal(logger, opening.Path, $"cannot be used ({e.Message}); answers wait for their rows' commit instead");
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Complete();
        await base.StopAsync(cancellationToken);
    }

    private async Task<bool> WriteAsync(List<AuditRow> rows)
    {
        try
        {
            inserter ??= await store.OpenInserterAsync(CancellationToken.None);
            inserter.Insert(rows, CancellationToken.None);
            return true;
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
        {
            // The next batch opens a fresh connection: what refused this one (a locked or changed database) may be gone.
            await CloseInserterAsync();
            queue.CountDropped(rows.Count);
            LogWriteFailed(logger, rows.Count, e.Message);
            return false;
        }
    }

    private async Task CloseInserterAsync()
    {
        if (inserter is not null)
        {
            await inserter.DisposeAsync();
            inserter = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit: the journal {Path} {State}")]
    private static partial void LogJournal(ILogger logger, string path, string state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit: a journal line that does not parse is skipped: {Where}")]
    private static partial void LogJournalLine(ILogger logger, string where);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit: {Count} rows a stopped ullmd left in the journal {Path} were written ({Already} were in the database already)")]
    private static partial void LogRecovered(ILogger logger, int count, int already, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "audit: {Count} rows could not be written and are counted as dropped: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, int count, string reason);
}

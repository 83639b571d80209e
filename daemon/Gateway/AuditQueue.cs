using System.Threading.Channels;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Audit rows on their way to SQLite: a bounded queue written in batches by <see cref="AuditWriter"/>. A full queue never
/// blocks a request; the row is dropped and counted (<see cref="Dropped"/>, ullm_audit_rows_dropped_total).
/// <para>
/// A client that saw an answer finish can count on its row even if ullmd is SIGKILLed a moment later: every row is
/// appended to the <see cref="AuditJournal"/> as it is queued, before the answer's end goes out, and the writer batches
/// the queue into SQLite at its own pace. Without a journal (before the writer opened it, or after it failed to take a
/// row), a request that succeeded commits its row before the client sees its end (<see cref="CommitAsync"/>); many
/// requests share one transaction (group commit). While the database does not take rows (a write failed, or one has
/// run for longer than <see cref="CommitWait"/>: the disk full, the file locked by another process), answers are not
/// held; their rows wait in the queue like any other.
/// </para>
/// </summary>
internal sealed class AuditQueue(ConfigHolder config, GatewayMetrics metrics, TimeProvider time)
{
    /// <summary>The longest a finished answer waits for its row to be committed.</summary>
    public static readonly TimeSpan CommitWait = TimeSpan.FromSeconds(2);

    private readonly Channel<QueuedRow> rows = Channel.CreateBounded<QueuedRow>(
        new BoundedChannelOptions(config.Current.Audit.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    // Queueing and journalling under one lock keeps the journal in the queue's order, so that the count of rows the
    // writer has dealt with says which of the journal's rows are in SQLite.
    private readonly Lock journalGate = new();
    private AuditJournal? journal;
    private long queued;
    private long dealt;
    private long rotatedAt = -1;
    private TaskCompletionSource commitAsked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long dropped;
    private int waitingCommits;
    private long writeStartedAt;
    private int lastWriteFailed;

    public long Dropped => Interlocked.Read(ref dropped);

    internal ChannelReader<QueuedRow> Reader => rows.Reader;

    /// <summary>Whether a row queued now has a caller waiting for its commit (then the writer does not linger).</summary>
    internal bool CommitWaiting => Volatile.Read(ref waitingCommits) > 0;

    /// <summary>Whether rows are journalled as they are queued, so that no answer waits for SQLite.</summary>
    public bool Journalled
    {
        get
        {
            lock (journalGate)
            {
                return JournalTakesRows;
            }
        }
    }

    /// <summary>Under <see cref="journalGate"/>: a journal is open and has not failed.</summary>
    private bool JournalTakesRows => journal is { Failed: false };

    /// <summary>A row whose request's client is not held for it (refusals, errors, abandoned streams).</summary>
    public void Enqueue(AuditRow row) => Queue(row, null);

    /// <summary>
    /// Queues the row, and where it could not be journalled waits until it is committed (or could not be: then it is
    /// counted dropped), at most <see cref="CommitWait"/>; at once while the database is not taking rows.
    /// </summary>
    public async Task CommitAsync(AuditRow row, CancellationToken cancellationToken)
    {
        if (QueueJournalled(row))
        {
            return;
        }

        if (!DatabaseTakesRows())
        {
            Queue(row, null);
            return;
        }

        var committed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref waitingCommits);
        if (!Queue(row, committed))
        {
            Interlocked.Decrement(ref waitingCommits);
            return;
        }

        Volatile.Read(ref commitAsked).TrySetResult();
        try
        {
            await committed.Task.WaitAsync(CommitWait, time, cancellationToken);
        }
        catch (TimeoutException)
        {
            // The row stays queued; the answer goes on without it.
        }
    }

    public void CountDropped(int count)
    {
        Interlocked.Add(ref dropped, count);
        metrics.AuditRowsDropped(count);
    }

    public void Complete() => rows.Writer.TryComplete();

    /// <summary>For the writer, once the journal's leftover rows are in SQLite: from now on rows are journalled.</summary>
    internal void UseJournal(AuditJournal opened)
    {
        lock (journalGate)
        {
            journal = opened;
        }
    }

    /// <summary>
    /// For the writer: <paramref name="count"/> more rows, the oldest queued, are written or counted dropped. Once all
    /// queued rows are, the journal is emptied; a journal grown large under steady load is set aside, and deleted once
    /// its rows are.
    /// </summary>
    internal void Dealt(int count)
    {
        lock (journalGate)
        {
            dealt += count;
            if (journal is null)
            {
                return;
            }

            if (dealt == queued)
            {
                journal.Clear();
                rotatedAt = -1;
                return;
            }

            if (rotatedAt >= 0 && dealt >= rotatedAt)
            {
                journal.DeleteRotated();
                rotatedAt = -1;
            }

            if (rotatedAt < 0 && journal.Length > journal.RotateAt)
            {
                journal.Rotate();
                rotatedAt = queued;
            }
        }
    }

    private bool Queue(AuditRow row, TaskCompletionSource? committed)
    {
        lock (journalGate)
        {
            return QueueLocked(row, committed);
        }
    }

    /// <summary>Queues the row if the journal takes rows (false, and nothing queued, if not): one lock for the check and the queueing.</summary>
    private bool QueueJournalled(AuditRow row)
    {
        lock (journalGate)
        {
            if (!JournalTakesRows)
            {
                return false;
            }

            QueueLocked(row, null);
            return true;
        }
    }

    private bool QueueLocked(AuditRow row, TaskCompletionSource? committed)
    {
        if (!rows.Writer.TryWrite(new QueuedRow(row, committed)))
        {
            CountDropped(1);
            return false;
        }

        queued++;
        journal?.TryAppend(row);
        return true;
    }

    /// <summary>For the writer: a task that completes when a caller starts waiting for a commit after this call.</summary>
    internal Task NextCommitAsked()
    {
        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref commitAsked, next);
        return next.Task;
    }

    /// <summary>For the writer: a batch is being written; its waiting rows no longer count as waiting.</summary>
    internal void WriteStarted(int waitedRows)
    {
        Interlocked.Add(ref waitingCommits, -waitedRows);
        Interlocked.Exchange(ref writeStartedAt, time.GetTimestamp());
    }

    /// <summary>For the writer: the batch is written (or refused); its waiting callers are released either way.</summary>
    internal void WriteEnded(bool succeeded)
    {
        Interlocked.Exchange(ref writeStartedAt, 0);
        Volatile.Write(ref lastWriteFailed, succeeded ? 0 : 1);
    }

    private bool DatabaseTakesRows()
    {
        var started = Interlocked.Read(ref writeStartedAt);
        return Volatile.Read(ref lastWriteFailed) == 0 && (started == 0 || time.GetElapsedTime(started) < CommitWait);
    }

    /// <summary>A row, and the request waiting for its commit (null when none waits).</summary>
    internal readonly record struct QueuedRow(AuditRow Row, TaskCompletionSource? Committed);
}

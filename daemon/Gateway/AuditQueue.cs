using System.Threading.Channels;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Audit rows on their way to SQLite: a bounded queue written in batches by <see cref="AuditWriter"/>. A full queue never
/// blocks a request; the row is dropped and counted (<see cref="Dropped"/>, ullm_audit_rows_dropped_total).
/// <para>
/// A request that succeeded commits its row before the client sees its end (<see cref="CommitAsync"/>), so a client
/// that saw an answer finish can count on its row even if ullmd is SIGKILLed a moment later. Many requests share one
/// transaction (group commit): the writer takes everything waiting at once. While the database does not take rows
/// (a write failed, or one has run for longer than <see cref="CommitWait"/>: the disk full, the file locked by another
/// process), answers are not held; their rows wait in the queue like any other.
/// </para>
/// </summary>
internal sealed class AuditQueue(ConfigHolder config, GatewayMetrics metrics, TimeProvider time)
{
    /// <summary>The longest a finished answer waits for its row to be committed.</summary>
    public static readonly TimeSpan CommitWait = TimeSpan.FromSeconds(2);

    private readonly Channel<QueuedRow> rows = Channel.CreateBounded<QueuedRow>(
        new BoundedChannelOptions(config.Current.Audit.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    private TaskCompletionSource commitAsked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long dropped;
    private int waitingCommits;
    private long writeStartedAt;
    private int lastWriteFailed;

    public long Dropped => Interlocked.Read(ref dropped);

    internal ChannelReader<QueuedRow> Reader => rows.Reader;

    /// <summary>Whether a row queued now has a caller waiting for its commit (then the writer does not linger).</summary>
    internal bool CommitWaiting => Volatile.Read(ref waitingCommits) > 0;

    /// <summary>A row whose request's client is not held for it (refusals, errors, abandoned streams).</summary>
    public void Enqueue(AuditRow row)
    {
        if (!rows.Writer.TryWrite(new QueuedRow(row, null)))
        {
            CountDropped(1);
        }
    }

    /// <summary>
    /// Queues the row and waits until it is committed (or could not be: then it is counted dropped), at most
    /// <see cref="CommitWait"/>; at once while the database is not taking rows.
    /// </summary>
    public async Task CommitAsync(AuditRow row, CancellationToken cancellationToken)
    {
        if (!DatabaseTakesRows())
        {
            Enqueue(row);
            return;
        }

        var committed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref waitingCommits);
        if (!rows.Writer.TryWrite(new QueuedRow(row, committed)))
        {
            Interlocked.Decrement(ref waitingCommits);
            CountDropped(1);
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

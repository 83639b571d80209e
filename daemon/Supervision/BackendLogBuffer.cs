using System.Runtime.CompilerServices;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// The last <see cref="Capacity"/> output lines of one backend, readable while they arrive. A reader that falls more
/// than <see cref="Capacity"/> lines behind skips the lines that were overwritten instead of holding memory. Its readers
/// make the <see cref="Demand"/> the output's follower reads at.
/// </summary>
internal sealed class BackendLogBuffer(int capacity)
{
    private readonly object gate = new();
    private readonly BackendLogLine[] ring = new BackendLogLine[capacity];
    private long written;
    private bool completed;
    private TaskCompletionSource changed = NewSignal();

    public int Capacity => ring.Length;

    public OutputDemand Demand { get; } = new();

    public void Append(BackendLogLine line)
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            ring[written % ring.Length] = line;
            written++;
            signal = changed;
            changed = NewSignal();
        }

        signal.TrySetResult();
    }

    /// <summary>No more lines will come (the backend exited and its output is drained); followers end.</summary>
    public void Complete()
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            completed = true;
            signal = changed;
        }

        signal.TrySetResult();
    }

    /// <summary>
    /// The last <paramref name="lines"/> lines, with what the output file holds that was not read yet; then, when
    /// <paramref name="follow"/>, each line as it comes until the output ends.
    /// </summary>
    public async IAsyncEnumerable<BackendLogLine> ReadAsync(int lines, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var following = follow ? Demand.Follow() : null;
        if (!follow && !Volatile.Read(ref completed))
        {
            await Demand.CatchUpAsync(cancellationToken);
        }

        long next;
        lock (gate)
        {
            next = Math.Max(0, written - Math.Clamp(lines, 0, ring.Length));
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = new List<BackendLogLine>();
            Task wait;
            bool done;
            lock (gate)
            {
                next = Math.Max(next, written - ring.Length);
                for (; next < written; next++)
                {
                    batch.Add(ring[next % ring.Length]);
                }

                wait = changed.Task;
                done = completed;
            }

            foreach (var line in batch)
            {
                yield return line;
            }

            if (!follow || done)
            {
                yield break;
            }

            await wait.WaitAsync(cancellationToken);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

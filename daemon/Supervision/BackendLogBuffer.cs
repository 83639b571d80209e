using System.Runtime.CompilerServices;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// The last <see cref="Capacity"/> output lines of one backend, readable while they arrive. A reader that falls more
/// than <see cref="Capacity"/> lines behind skips the lines that were overwritten instead of holding memory.
/// </summary>
internal sealed class BackendLogBuffer(int capacity)
{
    private readonly object gate = new();
    private readonly BackendLogLine[] ring = new BackendLogLine[capacity];
    private long written;
    private bool completed;
    private TaskCompletionSource changed = NewSignal();

    public int Capacity => ring.Length;

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

    public async IAsyncEnumerable<BackendLogLine> ReadAsync(int lines, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
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

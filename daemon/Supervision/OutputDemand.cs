namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Who wants a backend's output now, as its follower (<see cref="OutputFileTail"/>) reads it. While a reader follows
/// (llama-server's readiness probe waiting for its "listening" line, `ullmctl logs -f`), the follower reads each write
/// on inotify's notice. While none does, it reads what came at <see cref="OutputFileTail.UnfollowedPace"/>: a
/// llama-server writes about ten lines per request, and a wakeup and a read for each cost ullmd a quarter of its CPU
/// per streamed token (bench/RESULTS.md). A reader that takes the recent lines once asks for a read first
/// (<see cref="CatchUpAsync"/>), so it still gets everything the file holds.
/// </summary>
internal sealed class OutputDemand
{
    private readonly Pulse wanted = new();
    private TaskCompletionSource caughtUp = NewSignal();
    private int followers;
    private volatile bool ended;

    /// <summary>True while a reader follows the output.</summary>
    public bool Followed => Volatile.Read(ref followers) > 0;

    /// <summary>Completes at the first follower's arrival or catch-up request after the call.</summary>
    public Task Wanted() => wanted.Next();

    /// <summary>A reader follows the output until the returned handle is disposed.</summary>
    public IDisposable Follow()
    {
        Interlocked.Increment(ref followers);
        wanted.Fire();
        return new Following(this);
    }

    /// <summary>
    /// Completes once the follower has read the file to its end in a pass begun after this call, or at once when no
    /// follower reads it any more.
    /// </summary>
    public Task CatchUpAsync(CancellationToken cancellationToken)
    {
        var signal = Volatile.Read(ref caughtUp);
        if (ended)
        {
            return Task.CompletedTask;
        }

        wanted.Fire();
        return signal.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The follower begins a pass: the catch-up requests made so far are answered when it ends.</summary>
    public TaskCompletionSource BeginPass() => Interlocked.Exchange(ref caughtUp, NewSignal());

    /// <summary>The pass begun by <see cref="BeginPass"/> read the file to its end.</summary>
    public static void EndPass(TaskCompletionSource pass) => pass.TrySetResult();

    /// <summary>The follower stopped: every catch-up request, pending or later, is answered at once.</summary>
    public void End()
    {
        ended = true;
        Volatile.Read(ref caughtUp).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Following(OutputDemand demand) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                Interlocked.Decrement(ref demand.followers);
            }
        }
    }
}

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// A notice that can fire any number of times: <see cref="Next"/> completes at the first <see cref="Fire"/> after it was
/// taken, so a waiter takes it before it looks, and a notice while it looks is not missed.
/// </summary>
internal sealed class Pulse
{
    private TaskCompletionSource next = NewSignal();

    public Task Next() => Volatile.Read(ref next).Task;

    public void Fire() => Interlocked.Exchange(ref next, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

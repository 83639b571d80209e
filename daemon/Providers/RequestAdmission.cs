namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// Bounds the requests in flight to one backend by its request slots. llama-server accepts connections into a listen
/// backlog of a few entries and serves one request per slot: beyond that, more concurrent connections are refused or
/// reset, which a client would see as an upstream failure. Requests beyond the slots wait here instead, first come
/// first served, in a bounded queue; when it is full the caller is told how long the queue ahead would take to clear
/// (<see cref="SlotWaitEstimate"/>, from how long slots were held lately).
/// </summary>
internal sealed class RequestAdmission(int slots, int queueCapacity, TimeSpan queueTimeout, TimeProvider time)
{
    private readonly Lock gate = new();
    private readonly LinkedList<TaskCompletionSource> waiting = new();
    private readonly LinkedList<long> running = new();
    private readonly SlotWaitEstimate estimate = new();
    private int inFlight;

    public int Slots { get; } = Math.Max(1, slots);

    public int QueueCapacity { get; } = queueCapacity;

    public TimeSpan QueueTimeout { get; } = queueTimeout;

    /// <summary>A slot now, or after the requests queued before this one; a refusal when the queue is full or the wait times out.</summary>
    public async ValueTask<Admission> EnterAsync(CancellationToken cancellationToken)
    {
        LinkedListNode<TaskCompletionSource> node;
        lock (gate)
        {
            if (inFlight < Slots && waiting.Count == 0)
            {
                inFlight++;
                return Admission.Granted(GrantLocked());
            }

            if (waiting.Count >= QueueCapacity)
            {
                return Admission.Refused(AdmissionRefusal.QueueFull, EstimatedWait(waiting.Count + 1));
            }

            node = waiting.AddLast(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }

        try
        {
            await node.Value.Task.WaitAsync(QueueTimeout, time, cancellationToken).ConfigureAwait(false);
            lock (gate)
            {
                return Admission.Granted(GrantLocked());
            }
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            TimeSpan retryAfter;
            lock (gate)
            {
                if (node.List is not null)
                {
                    waiting.Remove(node);
                }
                else
                {
                    // Granted at the moment the wait ended: hand the slot on.
                    ReleaseLocked();
                }

                retryAfter = EstimatedWait(waiting.Count + 1);
            }

            if (e is TimeoutException)
            {
                return Admission.Refused(AdmissionRefusal.TimedOut, retryAfter);
            }

            throw;
        }
    }

    /// <summary>Under the lock: a slot whose hold is timed from now.</summary>
    private RequestSlot GrantLocked() => new(this, running.AddLast(time.GetTimestamp()));

    private void Release(LinkedListNode<long> grantedAt)
    {
        var held = time.GetElapsedTime(grantedAt.Value);
        lock (gate)
        {
            running.Remove(grantedAt);
            estimate.Record(held);
            ReleaseLocked();
        }
    }

    /// <summary>Under the lock: the slot goes to the first waiter, or back to the pool.</summary>
    private void ReleaseLocked()
    {
        if (waiting.First is { } first)
        {
            waiting.RemoveFirst();
            first.Value.SetResult();
            return;
        }

        inFlight--;
    }

    /// <summary>Under the lock: how long a caller <paramref name="position"/>th in line would wait for a slot.</summary>
    private TimeSpan EstimatedWait(int position) =>
        estimate.RetryAfter(position, Slots, running.First is { } oldest ? time.GetElapsedTime(oldest.Value) : TimeSpan.Zero);

    /// <summary>One request's slot; disposing it (once) lets the next request in.</summary>
    internal sealed class RequestSlot(RequestAdmission owner, LinkedListNode<long> grantedAt) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                owner.Release(grantedAt);
            }
        }
    }
}

internal enum AdmissionRefusal
{
    None,

    /// <summary>As many requests as the queue holds already wait for this backend.</summary>
    QueueFull,

    /// <summary>The request waited the whole queue timeout without a slot coming free.</summary>
    TimedOut,
}

/// <summary>A slot, or why none was given and how long the caller should wait before asking again.</summary>
internal readonly record struct Admission(RequestAdmission.RequestSlot? Slot, AdmissionRefusal Refusal, TimeSpan RetryAfter)
{
    public static Admission Granted(RequestAdmission.RequestSlot slot) => new(slot, AdmissionRefusal.None, TimeSpan.Zero);

    public static Admission Refused(AdmissionRefusal refusal, TimeSpan retryAfter) => new(null, refusal, retryAfter);
}

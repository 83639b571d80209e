using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// One load of one model: its state with the time of every transition, its plan and backend once known, and the leases
/// on it. Mutated only on the scheduler's loop (<see cref="SchedulerLoop"/>), except the lease count, the last use and
/// the idle signal: a lease on an open instance is taken and given back off the loop (<see cref="TryAcquire"/>,
/// <see cref="Release"/>), with one compare-and-swap on a word that packs the count with an "open" bit. Only the loop
/// sets that bit; the loop clears it, and so does a TTL timer as it fires on an instance with no lease (then the loop
/// decides: it stops the instance or opens it again).
/// </summary>
internal sealed class ModelInstance(string id, ModelConfig model, string unitName, DateTimeOffset createdAt)
{
    /// <summary>Set while new leases may be taken off the loop; the bits below it count the leases.</summary>
    private const int OpenBit = 1 << 30;

    private readonly List<InstanceTransition> transitions = [new(InstanceState.Planned, createdAt, null)];
    private int leaseWord;
    private long lastUsedTicks = createdAt.UtcTicks;
    private TaskCompletionSource? idle;

    public string Id { get; } = id;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public ModelConfig Model { get; } = model;

    public string UnitName { get; } = unitName;

    public InstanceState State { get; private set; } = InstanceState.Planned;

    public IReadOnlyList<InstanceTransition> Transitions => [.. transitions];

    public LoadPlan? Plan { get; set; }

    /// <summary>What the load that started this instance asked for instead of the configured values.</summary>
    public LoadOverrides Overrides { get; init; } = LoadOverrides.None;

    public RunningBackend? Backend { get; private set; }

    /// <summary>The gateway's connections to <see cref="Backend"/>, closed once it is drained (or lost) and before it is stopped.</summary>
    public UpstreamConnections? Connections { get; private set; }

    public int Leases => Volatile.Read(ref leaseWord) & ~OpenBit;

    /// <summary>True while a lease may be taken without the loop: the instance is ready, current and not switched out.</summary>
    public bool IsOpen => (Volatile.Read(ref leaseWord) & OpenBit) != 0;

    /// <summary>Written by whoever takes or gives back a lease, so that the TTL counts from the last one given back.</summary>
    public DateTimeOffset LastUsed
    {
        get => new(Volatile.Read(ref lastUsedTicks), TimeSpan.Zero);
        set => Volatile.Write(ref lastUsedTicks, value.UtcTicks);
    }

    /// <summary>Completes when the last lease ends after draining began.</summary>
    public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);


    /// <summary>Cancelled by a forced unload: the requests on every lease of this instance end at once.</summary>
    public CancellationTokenSource Revocation { get; } = new();

    /// <summary>Completes, with why, once the backend is lost while it serves: it exited, or stopped answering its health checks.</summary>
    public TaskCompletionSource<string> Lost { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Stopped { get; set; } = Task.CompletedTask;

    public Task ExitWatch { get; set; } = Task.CompletedTask;

    /// <summary>Any thread: one more lease, if the instance is open; false once the loop has closed it (the caller asks the loop).</summary>
    public bool TryAcquire()
    {
        var word = Volatile.Read(ref leaseWord);
        while ((word & OpenBit) != 0)
        {
            var seen = Interlocked.CompareExchange(ref leaseWord, word + 1, word);
            if (seen == word)
            {
                return true;
            }

            word = seen;
        }

        return false;
    }

    /// <summary>
    /// Any thread: one lease fewer. The release that brings the count to 0 completes the idle signal (a swap waiting
    /// for this instance to finish what it serves) and, on a closed instance, says so: the loop must hear of it.
    /// </summary>
    public LeaseEnd Release()
    {
        var after = Interlocked.Decrement(ref leaseWord);
        if ((after & ~OpenBit) != 0)
        {
            return LeaseEnd.StillLeased;
        }

        // After the decrement (a full fence): a signal installed before it is seen here, one installed after sees 0.
        Volatile.Read(ref idle)?.TrySetResult();
        return (after & OpenBit) != 0 ? LeaseEnd.IdleOpen : LeaseEnd.IdleClosed;
    }

    /// <summary>On the loop: leases it grants itself, open or not (a load's waiters as it becomes ready, a request that reached the loop).</summary>
    public void Grant(int leases) => Interlocked.Add(ref leaseWord, leases);

    /// <summary>On the loop: leases may be taken off the loop from now on.</summary>
    public void Open() => Interlocked.Or(ref leaseWord, OpenBit);

    /// <summary>
    /// On the loop: no lease is taken off the loop from now on; the leases held at that moment. When that is more than 0,
    /// the release that brings the count to 0 returns <see cref="LeaseEnd.IdleClosed"/>, so its holder tells the loop.
    /// </summary>
    public int Close() => Interlocked.And(ref leaseWord, ~OpenBit) & ~OpenBit;

    /// <summary>Closes the open instance only if no lease is held (a TTL expiry racing a request); false when one is, or when it is closed.</summary>
    public bool TryCloseIdle() => Interlocked.CompareExchange(ref leaseWord, 0, OpenBit) == OpenBit;

    /// <summary>
    /// On the loop: completes when no lease is held; a signal already waiting is shared. Installed before the count is
    /// read again, so that a release racing it either completes it or leaves 0 for that read.
    /// </summary>
    public Task WhenIdle()
    {
        if (Volatile.Read(ref idle) is { Task.IsCompleted: false } waiting)
        {
            return waiting.Task;
        }

        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref idle, signal);
        if (Leases == 0)
        {
            signal.TrySetResult();
        }

        return signal.Task;
    }

    /// <summary>
    /// An instance a previous ullmd started and this one adopted: ready, with its stored <paramref name="history"/>
    /// followed by the adoption.
    /// </summary>
    public static ModelInstance Adopted(
        string id, ModelConfig model, string unitName, DateTimeOffset createdAt, IEnumerable<InstanceTransition> history, DateTimeOffset at, string reason)
    {
        var instance = new ModelInstance(id, model, unitName, createdAt) { State = InstanceState.Ready };
        instance.transitions.Clear();
        instance.transitions.AddRange(history);
        instance.transitions.Add(new InstanceTransition(InstanceState.Ready, at, reason));
        return instance;
    }

    /// <summary>The backend this instance now serves from, with a connection pool of its own.</summary>
    public void Serve(RunningBackend backend, UpstreamConnections connections)
    {
        Backend = backend;
        Connections = connections;
    }

    public void MoveTo(InstanceState next, DateTimeOffset at, string? reason = null)
    {
        var allowed = (State, next) switch
        {
            (_, InstanceState.Failed) => State is not (InstanceState.Stopped or InstanceState.Failed),
            (InstanceState.Planned, InstanceState.Starting) => true,
            (InstanceState.Starting, InstanceState.Loading) => true,
            (InstanceState.Loading, InstanceState.Ready) => true,
            (InstanceState.Ready, InstanceState.Draining) => true,
            (InstanceState.Draining, InstanceState.Stopped) => true,
            _ => false,
        };
        if (!allowed)
        {
            throw new InvalidOperationException($"instance {Id} of {Model.Name} cannot go from {State} to {next}");
        }

        State = next;
        transitions.Add(new InstanceTransition(next, at, reason));
    }
}

/// <summary>What a lease's end left: leases still held, none on an open instance, or none on a closed one (the loop must hear of it).</summary>
internal enum LeaseEnd
{
    StillLeased,
    IdleOpen,
    IdleClosed,
}

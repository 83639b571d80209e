using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// One load of one model: its state with the time of every transition, its plan and backend once known, and the leases
/// on it. Mutated only on the scheduler's loop (<see cref="SchedulerLoop"/>).
/// </summary>
internal sealed class ModelInstance(string id, ModelConfig model, string unitName, DateTimeOffset createdAt)
{
    private readonly List<InstanceTransition> transitions = [new(InstanceState.Planned, createdAt, null)];

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

    public int Leases { get; set; }

    public DateTimeOffset LastUsed { get; set; } = createdAt;

    /// <summary>Completes when the last lease ends after draining began.</summary>
    public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set while a load waits for this instance to go idle before swapping it out; completed by its last lease's end.</summary>
    public TaskCompletionSource? Idle { get; set; }

    /// <summary>Cancelled by a forced unload: the requests on every lease of this instance end at once.</summary>
    public CancellationTokenSource Revocation { get; } = new();

    public Task Stopped { get; set; } = Task.CompletedTask;

    public Task ExitWatch { get; set; } = Task.CompletedTask;

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

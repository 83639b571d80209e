using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Download;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Ollama;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// Loads local models on demand and hands out leases on ready instances. Loads take turns (<see cref="LoadAdmission"/>):
/// one that fits beside the loads in flight, counting their planned memory as used and stopping nothing, starts at
/// once; one that must evict runs alone, against a settled machine. Requests for a model that is loading, draining or
/// unloaded wait in a bounded per-model queue for its single load in flight. Before a load that runs alone, the other loaded members of its exclusive group, and the least valuable
/// instances of its backend beyond <c>max_loaded</c>, are stopped; then the planner evicts what memory requires.
/// A busy instance to be swapped out first serves what comes for it until it is idle, for at most
/// <c>[server] max_swap_wait_seconds</c> (so alternating requests do not reload a model for each one, and none starves).
/// Evictions and TTL unloads drain leases first. After repeated failed loads of a model, loads on demand back off
/// (<see cref="LoadBackoff"/>); a crashed instance is replaced on the next request, and a model that crashes
/// <see cref="SchedulerOptions.CrashLimit"/> times in the window is held failed. Both end with an explicit load or a
/// config reload. Every instance and move is stored (<see cref="InstanceRecorder"/>), so a restarted
/// ullmd can adopt the backends this one leaves running (<see cref="AdoptAsync"/>).
/// All of this state belongs to one loop (<see cref="SchedulerLoop"/>): every change is an event handled there, and
/// what is slow (machine readings and planning, starting, draining and stopping backends) runs off it and posts its
/// result back. Synchronous readers see the <see cref="SchedulerView"/> the loop last published. One thing does not go
/// through the loop: a lease on an open instance (ready, current, not switched out) is taken and given back with one
/// compare-and-swap on the instance (<see cref="ModelInstance.TryAcquire"/>); the loop opens and closes instances, and
/// hears of the last lease given back on a closed one.
/// </summary>
internal sealed partial class Scheduler : IModelEndpoints, IAsyncDisposable
{
    private readonly SchedulerLoop loop;
    private readonly LoadAdmission admission = new();
    private readonly CancellationTokenSource shutdown = new();

    /// <summary>Each model's open instance, for the lease fast path; written on the loop. The instance's open bit decides, not this.</summary>
    private readonly ConcurrentDictionary<string, ModelInstance> serving = new(StringComparer.Ordinal);
    private readonly ModelProfileCache profiles = new();
    private readonly EngineRequests engines;
    private readonly ConfigHolder config;
    private readonly IReadOnlyDictionary<BackendKind, IBackendDriver> drivers;
    private readonly IBackendSupervisor supervisor;
    private readonly InstanceStore store;
    private readonly InstanceRecorder recorder;
    private readonly LoadPlanner planner;
    private readonly MachineReading machine;
    private readonly EventHub events;
    private readonly TimeProvider time;
    private readonly SchedulerOptions options;
    private readonly ILogger<Scheduler> logger;
    private readonly GenericFootprints genericFootprints;
    private readonly ModelDownloader? downloads;
    private readonly EffectRunner effects;
    private TaskCompletionSource admissionWake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SchedulerView view = SchedulerView.Empty;

    /// <summary>
    /// What the decisions know, the one record of each model's instance, load in flight, holds, switch and TTL: read and
    /// replaced only on the loop, by each decision (<see cref="Handle(SchedulerEvent)"/>). The runtime handles of what
    /// it names are the <see cref="EffectRunner"/>'s, by id.
    /// </summary>
    private SchedulerState state = SchedulerState.Empty;

    /// <summary>Counts the changes a plan made off the loop depends on (loads begun or ended, instances moved), to tell a stale plan.</summary>
    private long placementVersion;

    /// <summary>The last id given to a caller (a request, an admin call), so that the decision's answer names it.</summary>
    private long callers;
    private int disposed;

    public Scheduler(
        ConfigHolder config,
        IEnumerable<IBackendDriver> drivers,
        IBackendSupervisor supervisor,
        InstanceStore store,
        LoadPlanner planner,
        MachineReading machine,
        EventHub events,
        TimeProvider time,
        SchedulerOptions options,
        ILogger<Scheduler> logger,
        GenericFootprints genericFootprints,
        ModelDownloader? downloads = null)
    {
        this.config = config;
        this.drivers = drivers.ToDictionary(d => d.Kind);
        this.supervisor = supervisor;
        this.store = store;
        recorder = new InstanceRecorder(store, logger);
        this.planner = planner;
        this.machine = machine;
        this.events = events;
        this.time = time;
        this.options = options;
        this.logger = logger;
        engines = new EngineRequests(profiles);
        this.genericFootprints = genericFootprints;
        this.downloads = downloads;
        effects = new EffectRunner(this);
        loop = new SchedulerLoop(PublishView, logger);
        config.OnReplacedAsync((old, next) => loop.TryAskAsync(() => ConfigReplaced(old, next)));
    }

    /// <summary>Where each load in flight stands, stage by stage, for whoever waits on it.</summary>
    public LoadProgressBoard Progress { get; } = new();

    public bool TryResolve(string model, out string canonicalName)
    {
        var found = ModelNames.Of(config.Current).Find(model);
        canonicalName = found?.Name ?? string.Empty;
        return found is not null;
    }

    public ValueTask<Outcome<ModelLease>> AcquireAsync(string model, CancellationToken cancellationToken) =>
        TryLeaseOpen(model) is { } lease ? ValueTask.FromResult<Outcome<ModelLease>>(lease) : AcquireOnLoopAsync(model, cancellationToken);

    /// <summary>The fast path: a lease on the model's open instance, taken without the loop; null when there is none.</summary>
    private ModelLease? TryLeaseOpen(string model)
    {
        if (Volatile.Read(ref disposed) == 1 || !TryResolve(model, out var name) || !serving.TryGetValue(name, out var instance) || !instance.TryAcquire())
        {
            return null;
        }

        instance.LastUsed = time.GetUtcNow();
        return LeaseOn(instance);
    }

    private async ValueTask<Outcome<ModelLease>> AcquireOnLoopAsync(string model, CancellationToken cancellationToken)
    {
        var served = await ReadyInstanceAsync(model, null, cancellationToken).ConfigureAwait(false);
        return served.Succeeded ? served.Value.Lease : served.Failure;
    }

    /// <summary>
    /// Loads <paramref name="model"/> now (clearing a crash hold) and returns its instance once ready. Non-empty
    /// <paramref name="overrides"/> hold for this instance only; a model already loaded or loading with others is refused.
    /// </summary>
    public async Task<Outcome<InstanceInfo>> LoadAsync(string model, CancellationToken cancellationToken, LoadOverrides? overrides = null)
    {
        var served = await ReadyInstanceAsync(model, overrides ?? LoadOverrides.None, cancellationToken).ConfigureAwait(false);
        if (!served.Succeeded)
        {
            return served.Failure;
        }

        await using (served.Value.Lease.ConfigureAwait(false))
        {
            return await loop.AskAsync(() => Describe(served.Value.Instance)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Drains and stops <paramref name="model"/>'s instance; the instance as it was when its stop began (with the leases
    /// it drained, or with <paramref name="force"/> ended at once through <see cref="ModelLease.Revoked"/>), or
    /// <see cref="LeaseFailureKind.NotLoaded"/> when nothing was loaded.
    /// </summary>
    public async Task<Outcome<InstanceInfo>> UnloadAsync(string model, bool force, CancellationToken cancellationToken)
    {
        if (!TryResolve(model, out var name))
        {
            return RequestArrival.NotConfigured(model);
        }

        CloseNow(name);
        var begun = await loop.AskAsync<Outcome<UnloadBegun>>(() =>
        {
            // Closed first: the leases counted in the reason and the description are all it will have.
            var ready = state.Slot(name).Ready is { } current ? effects.Instance(current.Id) : null;
            var caller = ++callers;
            Handle(new SchedulerEvent.UnloadAsked(caller, name, force, ready is null ? 0 : CloseInstance(ready)));
            if (effects.TakeAnswer(caller) is { Failure: { } refused })
            {
                return refused;
            }

            return new UnloadBegun(ready!.Stopped, effects.TakeUnloading(caller), force ? ready : null);
        }).ConfigureAwait(false);
        if (!begun.Succeeded)
        {
            return begun.Failure;
        }

        if (begun.Value.Revoked is { } revoked)
        {
            // Off the loop: the lease holders' cancellation callbacks run on this thread. Only then is it drained, so
            // that its requests end on the revocation, not on the backend going away under them.
            await revoked.Revocation.CancelAsync().ConfigureAwait(false);
            revoked.Drained.TrySetResult();
        }

        await begun.Value.Stopped.WaitAsync(cancellationToken).ConfigureAwait(false);
        return begun.Value.Stopping;
    }

    /// <summary>
    /// Replaces <paramref name="from"/> with <paramref name="to"/> as one decision: from the moment it is taken, requests
    /// for <paramref name="from"/> are refused (<see cref="LeaseFailureKind.SwitchedOut"/>) instead of loading it again;
    /// its instance (once a load in flight has ended) drains and stops, then <paramref name="to"/> loads. The refusal
    /// ends when that load is ready or failed. <paramref name="from"/> not loaded is no error: <paramref name="to"/> loads.
    /// </summary>
    public async Task<Outcome<InstanceInfo>> SwitchAsync(string from, string to, CancellationToken cancellationToken)
    {
        if (!TryResolve(from, out var fromName))
        {
            return RequestArrival.NotConfigured(from);
        }

        if (!TryResolve(to, out var toName))
        {
            return RequestArrival.NotConfigured(to);
        }

        if (fromName == toName)
        {
            return new LeaseFailure(LeaseFailureKind.BadArgument, toName, $"switch from {fromName} to itself: nothing to switch");
        }

        CloseNow(fromName);
        var caller = 0L;
        var switching = await loop.AskAsync<Outcome<SwitchBegun>>(() =>
        {
            caller = ++callers;
            Handle(new SchedulerEvent.SwitchBegun(caller, fromName, toName));
            if (effects.TakeAnswer(caller) is { Failure: { } refused })
            {
                return refused;
            }

            var answer = effects.TakeSwitch(caller);
            return answer.AwaitLoad is { } loadId ? new SwitchBegun(effects.Load(loadId).Completion, null) : new SwitchBegun(null, answer.Stopped);
        }).ConfigureAwait(false);
        if (!switching.Succeeded)
        {
            return switching.Failure;
        }

        try
        {
            var stopped = switching.Value.Stopped ?? Task.CompletedTask;
            if (switching.Value.Loading is { } loading)
            {
                // Its waiters were granted leases when it became ready: they drain below like any other.
                await loading.WaitAsync(cancellationToken).ConfigureAwait(false);
                stopped = await loop.AskAsync(() =>
                {
                    Handle(new SchedulerEvent.SwitchedLoadEnded(caller, fromName, toName));
                    return effects.TakeSwitch(caller).Stopped;
                }).ConfigureAwait(false);
            }

            await stopped.WaitAsync(cancellationToken).ConfigureAwait(false);
            return await LoadAsync(toName, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // A switch given up before its stop began leaves the instance as it was: serving.
            await loop.TryAskAsync(() => Handle(new SchedulerEvent.SwitchEnded(fromName))).ConfigureAwait(false);
        }
    }

    /// <summary>The current instance of each model, as the loop last published them, with their leases and last use as they are now.</summary>
    public IReadOnlyList<InstanceInfo> Instances()
    {
        return [.. Volatile.Read(ref view).Instances.Select(i => i.Now())];
    }

    /// <summary>The models whose loads on demand are refused for now: backing off after failed loads, or held after crashes.</summary>
    public IReadOnlyList<LoadHold> Holds()
    {
        var now = time.GetUtcNow();
        return [.. Volatile.Read(ref view).Holds.Select(h => h.At(config.LoadedAt, now)).OfType<LoadHold>()];
    }

    /// <summary>
    /// Requests waiting for a load, by model: every configured model asked for since start, 0 when no load is in flight,
    /// so that a model's queue is a steady series rather than one that exists only while it loads.
    /// </summary>
    public IReadOnlyDictionary<string, int> QueueDepths()
    {
        var models = config.Current.Models;
        return Volatile.Read(ref view).QueueDepths.Where(q => models.ContainsKey(q.Key)).ToDictionary(q => q.Key, q => q.Value, StringComparer.Ordinal);
    }

    public IReadOnlySet<string> ReadyModels() =>
        Volatile.Read(ref view).Instances.Where(i => i.Info.State == InstanceState.Ready).Select(i => i.Info.Model).ToHashSet(StringComparer.Ordinal);

    public bool FitsWithoutEviction(string model)
    {
        if (!config.Current.Models.TryGetValue(model, out var configured))
        {
            return false;
        }

        try
        {
            return Preview(configured, LoadOverrides.None, CancellationToken.None).Decision is LoadPlan { Evictions.Count: 0 };
        }
        catch (PlanInputException)
        {
            return true;
        }
    }

    /// <summary>Loads every pinned model; a failure is reported and does not stop the others.</summary>
    public async Task LoadPinnedAsync(CancellationToken cancellationToken)
    {
        foreach (var model in config.Current.Models.Values.Where(m => m.Pinned))
        {
            if ((await LoadAsync(model.Name, cancellationToken).ConfigureAwait(false)).Failure is { } failure)
            {
                LogPinnedFailed(model.Name, failure.Reason);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Registered as itself and as IModelEndpoints: the container disposes it once per registration.
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await shutdown.CancelAsync().ConfigureAwait(false);
        var stopBackends = config.Current.Server.StopBackendsOnExit;
        List<Task> loads = [];
        List<Task> stops = [];
        await loop.AskAsync(() =>
        {
            loads.AddRange(effects.Loads.Select(l => l.Completion));
            Handle(new SchedulerEvent.Stop(stopBackends));
            stops.AddRange(effects.TakeAwaitedStops());
        }).ConfigureAwait(false);

        await Task.WhenAll(stops).ConfigureAwait(false);

        // The loads in flight end on the shutdown token; what they record goes through the loop, still running.
        await Task.WhenAll(loads).ConfigureAwait(false);
        await recorder.FlushAsync().ConfigureAwait(false);
        await loop.DisposeAsync().ConfigureAwait(false);
        shutdown.Dispose();
    }

    /// <summary>A lease on the model's ready instance, loading it first if needed; <paramref name="explicitLoad"/> is null for a load on demand.</summary>
    private async Task<Outcome<Served>> ReadyInstanceAsync(
        string model, LoadOverrides? explicitLoad, CancellationToken cancellationToken)
    {
        if (!TryResolve(model, out var name))
        {
            return RequestArrival.NotConfigured(model);
        }

        Outcome<Queued> queued;
        try
        {
            queued = await loop.AskAsync(() => RequestArrived(name, explicitLoad)).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return Stopping(name);
        }

        if (!queued.Succeeded)
        {
            return queued.Failure;
        }

        if (queued.Value.Served is { } ready)
        {
            return ready;
        }

        var pending = queued.Value.Pending!;
        using var deadline = new CancellationTokenSource(options.QueueTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        ModelInstance? served = null;
        try
        {
            var loaded = await pending.ReadyOrFailedAsync().WaitAsync(linked.Token).ConfigureAwait(false);
            if (!loaded.Succeeded)
            {
                return loaded.Failure;
            }

            served = loaded.Value;
            return new Served(served, LeaseOn(served));
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new LeaseFailure(
                LeaseFailureKind.NotReadyInTime, name, $"{name} was not ready within {options.QueueTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s", options.RetryAfter);
        }
        finally
        {
            // Served, it needs no trip through the loop: its load ended as it was granted, so its waiters no longer
            // count. Gone (cancelled, timed out) after the load granted it a lease: that lease is given back.
            if (served is null)
            {
                await loop.TryAskAsync(() => Handle(new SchedulerEvent.WaiterLeft(queued.Value.Caller, name, pending.Id, pending.Granted?.Id))).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// On the loop: a request for <paramref name="name"/> (an explicit load when <paramref name="explicitLoad"/> is not
    /// null, which first clears the model's holds) is refused, leased on the ready instance, or queued for the model's
    /// load in flight (begun if none is), as <see cref="SchedulerDecisions"/> decides.
    /// </summary>
    private Outcome<Queued> RequestArrived(string name, LoadOverrides? explicitLoad)
    {
        var caller = ++callers;
        Handle(new SchedulerEvent.RequestArrived(caller, name, explicitLoad));
        if (effects.TakeAnswer(caller) is not { } answer)
        {
            return new Queued(caller, effects.Load(state.Slot(name).Loading!.Id), null);
        }

        return answer.Succeeded ? new Queued(caller, null, answer.Value) : answer.Failure;
    }

    /// <summary>
    /// The plan a load of <paramref name="model"/> with <paramref name="overrides"/> would get now, from the same inputs
    /// a real load plans with (the profile cache, the machine reading, the loaded instances, the config in force).
    /// Nothing is started or stopped. <see cref="PlanInputException"/> when the model cannot be planned.
    /// </summary>
    public (PlacementDecision Decision, ModelProfile Profile, IReadOnlyList<RuleVictim> RuleVictims) Preview(
        ModelConfig model, LoadOverrides overrides, CancellationToken cancellationToken)
    {
        var (request, vllm) = ReadEngineRequest(model, overrides, cancellationToken);
        var seen = Volatile.Read(ref view);
        var members = seen.Members;
        var placement = LoadAdmission.Beside(MachinePlacement(seen.Loaded), seen.Reservations);
        var profile = vllm?.Model ?? request?.Model;
        var ruled = RuleEvictions.Choose(model, config.Current.Backends.For(model).MaxLoaded, members);
        if (!ruled.Succeeded)
        {
            return (new PlanRefusal(ruled.Failure.Reason), profile!, []);
        }

        return (Decide(model, RuleEvictions.Without(placement, ruled.Value), request, vllm), profile!, ruled.Value);
    }

    /// <summary>On the loop: a reload applies to what is loaded at once, as <see cref="SchedulerDecisions"/> decides.</summary>
    private void ConfigReplaced(UllmConfig old, UllmConfig next)
    {
        var lastUsed = ReadyInstances().ToDictionary(r => r.Model.Name, r => r.LastUsed, StringComparer.Ordinal);
        Handle(new SchedulerEvent.ConfigReplaced(old, next, lastUsed));
    }

    /// <summary>On the loop: the models' slots in the state, in the order of their names.</summary>
    private IEnumerable<SlotState> Slots() => state.Slots.Values.OrderBy(s => s.Model, StringComparer.Ordinal);

    /// <summary>On the loop: each model's current instance the state names, looked up by id.</summary>
    private IEnumerable<ModelInstance> CurrentInstances() => Slots().Select(s => s.Instance).OfType<SlotInstance>().Select(i => effects.Instance(i.Id));

    /// <summary>On the loop: each model's ready instance, looked up by id.</summary>
    private IEnumerable<ModelInstance> ReadyInstances() => Slots().Select(s => s.Ready).OfType<SlotInstance>().Select(i => effects.Instance(i.Id));

    /// <summary>On the loop: <paramref name="model"/>'s current instance, which the state names.</summary>
    private ModelInstance CurrentInstance(string model) => effects.Instance(state.Slot(model).Instance!.Id);

    /// <summary>The handle on a lease already counted in <see cref="ModelInstance.Leases"/>.</summary>
    private ModelLease LeaseOn(ModelInstance instance)
    {
        var backend = instance.Backend!;
        return new ModelLease(instance.Model.Name, backend.BaseAddress, backend.UpstreamModel, instance.Connections!, () => EndLease(instance))
        {
            ApiBase = backend.ApiBase,
            Revoked = instance.Revocation.Token,
            Lost = instance.Lost.Task,
        };
    }

    /// <summary>Off the loop: a lease on <paramref name="instance"/> ended; the loop hears of it only when it was the last on a closed instance.</summary>
    private ValueTask EndLease(ModelInstance instance) =>
        Ended(instance)
            ? new ValueTask(loop.TryAskAsync(() => Handle(new SchedulerEvent.LeaseEnded(instance.Model.Name, instance.Id))))
            : ValueTask.CompletedTask;

    /// <summary>Any thread: the lease's end counted; true when it was the last one on a closed instance.</summary>
    private bool Ended(ModelInstance instance)
    {
        // Before the count drops: whoever sees the count at 0 sees this use too (the TTL's recheck after it closes).
        instance.LastUsed = time.GetUtcNow();
        var end = instance.Release();
        if (end == LeaseEnd.StillLeased)
        {
            return false;
        }

        // Stored once the instance falls idle, the moment that orders evictions after a restart.
        recorder.Used(instance);
        return end == LeaseEnd.IdleClosed;
    }

    /// <summary>
    /// Off the loop, as an unload or a switch is asked for: no lease on <paramref name="name"/> is taken off the loop from
    /// now on, so a request after the call asks the loop, which has the decision by then. Every path of that decision
    /// leaves the instance closed (stopping, switched out) or not ready.
    /// </summary>
    private void CloseNow(string name)
    {
        if (serving.TryGetValue(name, out var instance))
        {
            CloseInstance(instance);
        }
    }

    /// <summary>On the loop (or <see cref="CloseNow"/>): no lease is taken off the loop from now on; the leases held then.</summary>
    private int CloseInstance(ModelInstance instance)
    {
        serving.TryRemove(new KeyValuePair<string, ModelInstance>(instance.Model.Name, instance));
        return instance.Close();
    }

    /// <summary>On the loop: the instance takes leases off the loop from now on.</summary>
    private void Open(ModelInstance instance)
    {
        instance.Open();
        serving[instance.Model.Name] = instance;
    }

    /// <summary>
    /// On the loop: the TTL timer <paramref name="armId"/> on <paramref name="instance"/> went off, closing the instance
    /// if no lease was held. It may have fired before the loop handled what re-armed it (a reload that changed the ttl):
    /// only the model's armed timer counts, and what an older one closed is opened again.
    /// </summary>
    private void TtlFired(string model, ModelInstance instance, long armId)
    {
        // Read before the leases: a lease seen below was held at this instant or later, so a ttl from it is no later than due.
        var now = time.GetUtcNow();
        var current = state.IsArmed(model, instance.Id, armId);

        // Open again if a request reached the loop since the timer closed it; closed by a switch, it stays closed.
        var leased = current && (instance.Leases > 0 || instance.IsOpen && !instance.TryCloseIdle());

        // Read after closing: a lease taken and given back before the close is counted in this last use.
        Handle(new SchedulerEvent.TtlDue(model, instance.Id, armId, leased, instance.LastUsed), now);
    }

    /// <summary>On the loop: the closed, draining instance is stopped off the loop once its leases end (now, when it has none) or the drain times out.</summary>
    private Task StartDrain(ModelInstance instance, string kind, string reason)
    {
        var leases = instance.Leases;
        if (leases == 0)
        {
            instance.Drained.TrySetResult();
        }

        Publish(kind, $"{instance.Model.Name}: draining {leases} lease(s) before stopping: {reason}", instance);
        instance.Stopped = Task.Run(() => DrainAndStopAsync(instance, kind, reason), CancellationToken.None);
        return instance.Stopped;
    }

    /// <summary>Waits for the drain (or its timeout), stops the backend, and tells the loop how the stop ended.</summary>
    private async Task DrainAndStopAsync(ModelInstance instance, string kind, string reason)
    {
        string? failure = null;
        try
        {
            try
            {
                await instance.Drained.Task.WaitAsync(options.DrainTimeout, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                LogDrainTimedOut(instance.Model.Name, instance.Leases);
            }

            instance.Connections!.Dispose();
            await drivers[instance.Model.Backend].StopAsync(instance.Backend!, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e.Message;
        }

        var model = instance.Model.Name;
        await loop.AskAsync(() => Handle(new SchedulerEvent.StopEnded(model, instance.Id, kind, reason, failure))).ConfigureAwait(false);
    }

    /// <summary>The load <paramref name="pending"/> of the model configured as <paramref name="begun"/> when it began, to its end.</summary>
    private async Task<Outcome<ModelInstance>> LoadAsync(ModelConfig begun, PendingLoad pending)
    {
        var token = shutdown.Token;
        var name = begun.Name;
        Progress.Queued(name);
        var attempt = new LoadAttempt();
        var queued = false;
        LeaseFailure? notFetched = null;
        Outcome<ModelInstance> outcome;
        try
        {
            notFetched = await FetchAsync(InForce(begun), token).ConfigureAwait(false);
            if (notFetched is not null)
            {
                outcome = notFetched;
            }
            else
            {
                await loop.AskAsync(() => admission.Enqueue(name)).ConfigureAwait(false);
                queued = true;
                outcome = await StartInstanceAsync(InForce(begun), pending, attempt, token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            outcome = token.IsCancellationRequested ? Stopping(name) : new LeaseFailure(LeaseFailureKind.LoadFailed, name, $"{name} failed to load: {e.Message}");
        }

        // A load that became ready ended in the handler that made it so; read after awaiting that handler. A failed one
        // is decided and ended in one handler, its waiters answered while it still counts as in flight.
        if (!outcome.Succeeded || !pending.Ended)
        {
            await loop.AskAsync(() =>
            {
                if (!outcome.Succeeded)
                {
                    var instance = attempt.Instance;
                    var stage = notFetched is not null ? LoadFailureStage.Download
                        : instance is { State: InstanceState.Loading } ? LoadFailureStage.Backend
                        : LoadFailureStage.BeforeBackend;
                    Handle(new SchedulerEvent.LoadFailed(name, pending.Id, instance?.Id, stage, outcome.Failure));
                }

                EndLoad(name, pending, queued);
            }).ConfigureAwait(false);
        }

        return outcome;
    }

    /// <summary>The config in force for the model a load began as <paramref name="begun"/>; a reload that removed the model since leaves the load that one.</summary>
    private ModelConfig InForce(ModelConfig begun) => config.Current.Models.GetValueOrDefault(begun.Name) ?? begun;

    /// <summary>
    /// On the loop, once the load's end is decided: <paramref name="pending"/> of <paramref name="name"/> no longer counts
    /// as in flight: its handle forgotten, its admission ended when it had one (<paramref name="admitted"/>), and its
    /// progress ended. Once only.
    /// </summary>
    private void EndLoad(string name, PendingLoad pending, bool admitted)
    {
        if (pending.Ended)
        {
            return;
        }

        pending.Ended = true;
        effects.Forget(pending);

        if (admitted)
        {
            admission.End(name);
            AdmissionChanged();
        }

        Progress.Ended(name);
    }

    private static LeaseFailure Stopping(string model) => new(LeaseFailureKind.ShuttingDown, model, $"{model}: not loaded, ullmd is stopping");

    /// <summary>
    /// Once it is the load's turn (<see cref="LoadAdmission"/>): plans the model, beside the loads in flight or alone after
    /// making room, starts its backend and grants the waiters their leases.
    /// </summary>
    private async Task<Outcome<ModelInstance>> StartInstanceAsync(ModelConfig model, PendingLoad pending, LoadAttempt attempt, CancellationToken token)
    {
        if (!drivers.TryGetValue(model.Backend, out var driver))
        {
            return new LeaseFailure(LeaseFailureKind.LoadFailed, model.Name, $"{model.Name}: no driver for backend {model.Backend}");
        }

        LoadRequest? request;
        VllmRequest? vllm;
        try
        {
            (request, vllm) = ReadEngineRequest(model, pending.Overrides, token);
        }
        catch (PlanInputException e)
        {
            return new LeaseFailure(e.IsBadArgument ? LeaseFailureKind.BadArgument : LeaseFailureKind.LoadFailed, model.Name, e.Message);
        }

        var backendConfig = config.Current.Backends.For(model);
        var generic = model.Backend == BackendKind.Generic ? await genericFootprints.LoadAsync(model, backendConfig, token).ConfigureAwait(false) : null;
        PlacementDecision Plan(PlacementContext context) =>
            generic is null ? Decide(model, context, request, vllm) : DeclaredFootprintPlanner.Plan(context, generic);

        PlacementDecision PlanOrNothing(PlacementContext context)
        {
            try
            {
                return Plan(context);
            }
            catch (PlanInputException e)
            {
                // Reported by the load that runs alone, where the same question is asked again.
                return new PlanRefusal(e.Message);
            }
        }

        var planned = await BeginBesideOrAloneAsync(model, pending, attempt, PlanOrNothing, token).ConfigureAwait(false)
            ?? await MakeRoomAndPlanAsync(model, pending, attempt, Plan, token).ConfigureAwait(false);
        if (!planned.Succeeded)
        {
            return planned.Failure;
        }

        var (instance, plan) = planned.Value;
        await loop.AskAsync(() => Move(instance, InstanceState.Loading)).ConfigureAwait(false);

        Progress.Report(model.Name, LoadStage.StartingUnit, plan.Summary().Split('\n')[0], instance.UnitName);
        var connections = UpstreamConnections.BackendPool(config.Current.Router.Timeouts.Connect);
        var start = new BackendStart(model, plan, backendConfig, instance.UnitName)
        {
            Loading = detail => Progress.Report(model.Name, LoadStage.LoadingWeights, detail, instance.UnitName),
            Connections = connections,
        };
        RunningBackend backend;
        try
        {
            backend = await driver.StartAsync(start, token).ConfigureAwait(false);
        }
        catch
        {
            connections.Dispose();
            throw;
        }

        await loop.AskAsync(() =>
        {
            instance.Serve(backend, UpstreamConnections.ForBackend(
                connections, new RequestAdmission(backend.RequestSlots, options.QueueCapacity, options.QueueTimeout, time)));
            instance.LastUsed = time.GetUtcNow();

            // Leased to every waiter by the decision, before anything else can begin evicting it, and the load ended in
            // the same handler: whoever the loop serves next sees the waiters' leases on a ready instance, no load in flight.
            Handle(new SchedulerEvent.LoadReady(model.Name, pending.Id, EffectRunner.AsSlotInstance(instance, InstancePhase.Loading)));
            instance.ExitWatch = WatchExitAsync(instance, driver);
            EndLoad(model.Name, pending, admitted: true);
        }).ConfigureAwait(false);

        // The view showing it ready is published by now: the waiters go on, their requests beside the "load" event.
        pending.Wake();
        Publish("load", $"{model.Name}: ready at {backend.BaseAddress} ({plan.Summary().Split('\n')[0]})", instance);
        if (generic is not null)
        {
            // Logs its own failures and never throws; later loads of the model read what it stored.
            _ = genericFootprints.MeasureAsync(model, backendConfig, plan, backend.Process, token);
        }

        return instance;
    }

    /// <summary>
    /// Waits for the load's turn. Then, when no rule stops anything for it and its plan fits beside the reservations of
    /// the loads in flight without evicting, it begins beside them with its own reservation: the planned instance. When
    /// it must run alone instead, it begins once no load is in flight: null, and <see cref="MakeRoomAndPlanAsync"/> follows.
    /// <see cref="LoadTurn"/> decides each step on the loop; the plan beside the others is made off it.
    /// </summary>
    private async Task<Outcome<PlannedInstance>?> BeginBesideOrAloneAsync(
        ModelConfig model, PendingLoad pending, LoadAttempt attempt, Func<PlacementContext, PlacementDecision> planOrNothing, CancellationToken token)
    {
        var reported = false;
        BesidePlan? planned = null;
        while (true)
        {
            var turn = await loop.AskAsync(() =>
            {
                if (!reported && admission.IsTurnOf(model.Name))
                {
                    reported = true;
                    Progress.Report(model.Name, LoadStage.Planning, $"sizing {model.Name} ({model.BackendKey}) for the machine as it is now");
                }

                return TakeTurn(model, pending, attempt, planned);
            }).ConfigureAwait(false);
            planned = null;
            if (turn.Alone)
            {
                return null;
            }

            if (turn.Began is { } began)
            {
                return began;
            }

            if (turn.Inputs is { } inputs)
            {
                // Off the loop: the machine reading and the planner; the loop then takes the plan unless what it counted changed meanwhile.
                planned = new BesidePlan(inputs.Version, planOrNothing(LoadAdmission.Beside(MachinePlacement(inputs.Loaded), inputs.Reservations)));
            }
            else if (turn.Wake is { } changed)
            {
                await changed.WaitAsync(token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// On the loop: the load's next step as <see cref="LoadTurn"/> decides it from its turn now and the plan made beside
    /// the others since the last step (null: none), applied. Begun beside the others, the instance is planned and takes
    /// its reservation; begun alone, it has none; with neither a wake, inputs nor a result, the turn is looked at again.
    /// </summary>
    private AdmissionTurn TakeTurn(ModelConfig model, PendingLoad pending, LoadAttempt attempt, BesidePlan? planned)
    {
        var turn = admission.Turn(model.Name, RulesStopNothing(model), placementVersion);
        switch (LoadTurn.Decide(turn, planned))
        {
            case TurnStep.PlanBeside:
                return new AdmissionTurn(null, PlacementInputs(), false);
            case TurnStep.BeginBeside beside:
                return BeginBeside(model, pending, attempt, beside.Plan);
            case TurnStep.BeginAlone:
                admission.Begin(new AdmittedLoad(model.Name, model.Group, model.BackendKey, null));
                AdmissionChanged();
                return new AdmissionTurn(null, null, true);
            case TurnStep.PlanAgain:
                return new AdmissionTurn(null, null, false);
            default:
                return new AdmissionTurn(admissionWake.Task, null, false);
        }
    }

    /// <summary>On the loop: the load begins beside the others with <paramref name="fits"/>, its instance planned and its memory reserved.</summary>
    private AdmissionTurn BeginBeside(ModelConfig model, PendingLoad pending, LoadAttempt attempt, LoadPlan fits)
    {
        var instance = NewInstance(model, pending, attempt);
        instance.Plan = fits;
        recorder.Planned(instance);
        Move(instance, InstanceState.Starting, fits.Summary());
        admission.Begin(new AdmittedLoad(model.Name, model.Group, model.BackendKey,
            LoadReservation.Of(instance.UnitName, fits)));

        // The next load in line may have asked while this one planned: it is its turn now.
        AdmissionChanged();
        return new AdmissionTurn(null, null, false) { Began = new PlannedInstance(instance, fits) };
    }

    /// <summary>On the loop: what a plan made off the loop counts, with the version that tells whether it still holds.</summary>
    private PlanningInputs PlacementInputs() => new(placementVersion, LoadedInstances(), [.. admission.Reservations]);

    /// <summary>
    /// On the loop: true when <paramref name="model"/> could start beside the loads in flight as far as the rules go:
    /// its previous instance is not still stopping, and no group member or <c>max_loaded</c> excess has to stop for it,
    /// the loads in flight counting as loaded and unmovable.
    /// </summary>
    private bool RulesStopNothing(ModelConfig model)
    {
        return state.Slot(model.Name).Instance is not { Phase: InstancePhase.Draining }
            && RuleEvictions.Choose(model, config.Current.Backends.For(model).MaxLoaded, [.. LoadedMembers(), .. admission.AsMembers(time.GetUtcNow())])
                is { Succeeded: true, Value.Count: 0 };
    }

    /// <summary>On the loop: the instance a load plans, now the model's current one.</summary>
    private ModelInstance NewInstance(ModelConfig model, PendingLoad pending, LoadAttempt attempt)
    {
        var id = InstanceIds.New();
        var instance = new ModelInstance(id, model, UnitName.ForModel(model.Name, id), time.GetUtcNow()) { Overrides = pending.Overrides };
        attempt.Instance = instance;
        effects.Track(instance);
        Handle(new SchedulerEvent.InstancePlanned(model.Name, EffectRunner.AsSlotInstance(instance, InstancePhase.Loading)));
        return instance;
    }

    /// <summary>
    /// Alone (no other load in flight): waits for the instances being stopped, stops what the rules stop for the model,
    /// plans it against the settled machine and evicts what the plan needs, each busy victim serving first for at most
    /// <c>max_swap_wait_seconds</c>.
    /// </summary>
    private async Task<Outcome<PlannedInstance>> MakeRoomAndPlanAsync(
        ModelConfig model, PendingLoad pending, LoadAttempt attempt, Func<PlacementContext, PlacementDecision> plan, CancellationToken token)
    {
        var draining = await loop.AskAsync(() =>
            Slots().Select(s => s.Instance).OfType<SlotInstance>().Where(i => i.Phase == InstancePhase.Draining).Select(i => effects.Instance(i.Id).Stopped).ToList()).ConfigureAwait(false);
        await Task.WhenAll(draining).ConfigureAwait(false);
        var ruleVictims = await loop.AskAsync(() => RuleVictims(model)).ConfigureAwait(false);
        if (!ruleVictims.Succeeded)
        {
            return ruleVictims.Failure;
        }

        ReportEvicting(model.Name, ruleVictims.Value.Select(v => $"{v.Instance.Model.Name} ({v.Reason})"));
        await ServeBeforeSwapAsync(model, ruleVictims.Value, token).ConfigureAwait(false);
        var ruled = await loop.AskAsync(() => BeginEvictions(ruleVictims.Value)).ConfigureAwait(false);

        // Stopped before planning, so that the planner sees the memory they held as free.
        await Task.WhenAll(ruled).ConfigureAwait(false);
        Outcome<RoomPlanned>? planned = null;
        while (planned is null)
        {
            var inputs = await loop.AskAsync(PlacementInputs).ConfigureAwait(false);
            PlacementDecision decision;
            try
            {
                // Off the loop: the machine reading and the planner.
                decision = plan(LoadAdmission.Beside(MachinePlacement(inputs.Loaded), inputs.Reservations));
            }
            catch (PlanInputException)
            {
                // The instance is recorded without a plan; the load fails with the planner's reason (the move to failed follows).
                await loop.AskAsync(() => recorder.Planned(NewInstance(model, pending, attempt))).ConfigureAwait(false);
                throw;
            }

            planned = await loop.AskAsync(() => TakeAlonePlan(model, pending, attempt, inputs.Version, decision)).ConfigureAwait(false);
        }

        if (!planned.Succeeded)
        {
            return planned.Failure;
        }

        var (instance, loadPlan, planVictims) = planned.Value;
        ReportEvicting(model.Name, loadPlan.Evictions.Select(e => $"{e.Name} (to make room)"));
        await ServeBeforeSwapAsync(model, planVictims, token).ConfigureAwait(false);
        var evictions = await loop.AskAsync(() =>
        {
            var stops = BeginEvictions(planVictims);
            Move(instance, InstanceState.Starting, loadPlan.Summary());
            return stops;
        }).ConfigureAwait(false);
        await Task.WhenAll(evictions).ConfigureAwait(false);
        return new PlannedInstance(instance, loadPlan);
    }

    /// <summary>
    /// On the loop: the plan made off the loop for a load running alone, if the ready instances it counted are unchanged
    /// (null otherwise: it is planned again). The instance is recorded with its plan, or without when the planner refused.
    /// </summary>
    private Outcome<RoomPlanned>? TakeAlonePlan(ModelConfig model, PendingLoad pending, LoadAttempt attempt, long version, PlacementDecision decision)
    {
        if (version != placementVersion)
        {
            return null;
        }

        var instance = NewInstance(model, pending, attempt);
        if (decision is PlanRefusal refusal)
        {
            recorder.Planned(instance);
            return new LeaseFailure(LeaseFailureKind.DoesNotFit, model.Name, $"{model.Name} does not fit: {refusal.Reason}");
        }

        var loadPlan = decision as LoadPlan ?? throw new InvalidOperationException($"unexpected planner answer {decision}");
        instance.Plan = loadPlan;
        recorder.Planned(instance);
        return new RoomPlanned(instance, loadPlan,
            [.. loadPlan.Evictions.Select(e => new Victim(CurrentInstance(e.Name), $"evicted to make room for {model.Name}"))]);
    }

    /// <summary>
    /// Downloads the files of a model with a remote source that are not there yet (joining a download in flight), before
    /// the load gate: other models load meanwhile. A failed download fails the load and counts towards its backoff.
    /// </summary>
    private async Task<LeaseFailure?> FetchAsync(ModelConfig model, CancellationToken cancellationToken)
    {
        if (ModelDownloader.IsPresent(model))
        {
            return null;
        }

        try
        {
            if (downloads is null)
            {
                throw new ModelDownloadException($"{model.Remote!.Text} is not downloaded yet, and this scheduler was made without a downloader");
            }

            await downloads.EnsureAsync(model, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (ModelDownloadException e)
        {
            return new LeaseFailure(LeaseFailureKind.LoadFailed, model.Name, $"{model.Name}: {e.Message}");
        }
    }

    /// <summary>
    /// On the loop: what the rules stop before <paramref name="model"/> loads (<see cref="RuleEvictions"/>: the other
    /// members of its exclusive group, the excess of its backend's <c>max_loaded</c>), with the reason each goes; refuses
    /// (<see cref="LeaseFailureKind.DoesNotFit"/>) when a pinned instance stands in the way.
    /// </summary>
    private Outcome<List<Victim>> RuleVictims(ModelConfig model)
    {
        var chosen = RuleEvictions.Choose(model, config.Current.Backends.For(model).MaxLoaded, LoadedMembers());
        return chosen.Succeeded
            ? new List<Victim>([.. chosen.Value.Select(v => new Victim(CurrentInstance(v.Model), v.Reason))])
            : chosen.Failure;
    }

    /// <summary>On the loop: the ready instances (with a plan or not, as the rules count them) with their group and backend.</summary>
    private List<LoadedMember> LoadedMembers() =>
        [.. ReadyInstances().Select(i => new LoadedMember(ToLoaded(i), GroupOf(i), i.Model.BackendKey))];

    private void ReportEvicting(string model, IEnumerable<string> victims)
    {
        var names = string.Join(", ", victims);
        if (names.Length > 0)
        {
            Progress.Report(model, LoadStage.Evicting, "stopping " + names);
        }
    }

    /// <summary>
    /// Lets the busy <paramref name="victims"/> finish what they serve before the swap that stops them; they keep taking
    /// the requests that come for them meanwhile, so what is queued for a loaded model is served before it is swapped
    /// out. The wait ends when all are idle or after <c>[server] max_swap_wait_seconds</c>, the bound on how long
    /// <paramref name="model"/>'s load waits for them (0: no wait, they drain at once).
    /// </summary>
    private async Task ServeBeforeSwapAsync(ModelConfig model, List<Victim> victims, CancellationToken cancellationToken)
    {
        var limit = config.Current.Server.MaxSwapWait;
        List<Task> busy = [];
        List<(ModelInstance Instance, string Message)> serving = [];
        await loop.AskAsync(() =>
        {
            foreach (var victim in victims.Select(v => v.Instance))
            {
                if (SwapVictims.ServesFirst(victim.Model.Name, state.Slot(victim.Model.Name).Ready?.Id == victim.Id, victim.Leases, model.Name, limit) is { } message)
                {
                    busy.Add(victim.WhenIdle());
                    serving.Add((victim, message));
                }
            }
        }).ConfigureAwait(false);

        if (busy.Count == 0)
        {
            return;
        }

        // The bound's timer runs from before the event: whoever reads the event may count on it.
        var idle = Task.WhenAll(busy).WaitAsync(limit, time, cancellationToken);
        foreach (var (instance, message) in serving)
        {
            Publish("evict", message, instance);
        }

        try
        {
            await idle.ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The bound is reached: they are drained now, like any eviction.
        }
    }

    /// <summary>On the loop: begins stopping each victim still ready; one already stopping is waited for, one gone is not.</summary>
    private List<Task> BeginEvictions(List<Victim> victims)
    {
        List<Task> stops = [];
        foreach (var victim in victims)
        {
            var model = victim.Instance.Model.Name;
            Handle(new SchedulerEvent.EvictionChosen(model, victim.Instance.Id, victim.Reason));
            stops.AddRange(effects.TakeAwaitedStops());
        }

        return stops;
    }

    /// <summary>The instance's group in the config in force (a reload may have moved it), else in the one it loaded with.</summary>
    private string? GroupOf(ModelInstance instance) =>
        (config.Current.Models.GetValueOrDefault(instance.Model.Name) ?? instance.Model).Group;

    /// <summary>The planner's request for a load of <paramref name="model"/>, from its GGUF profile (cached by file stamp).</summary>
    private LoadRequest ReadRequest(ModelConfig model, LoadOverrides overrides, CancellationToken cancellationToken)
    {
        ModelProfile profile;
        try
        {
            profile = profiles.Read(model.Source, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or GgufFormatException)
        {
            throw new PlanInputException($"{model.Name}: cannot read {model.Source}: {e.Message}");
        }

        return PlanInputs.Request(model, profile, overrides);
    }

    /// <summary>The planner input for <paramref name="model"/>'s backend: a llama.cpp-style request (llama.cpp, Ollama) or a vLLM one.</summary>
    private (LoadRequest? Request, VllmRequest? Vllm) ReadEngineRequest(ModelConfig model, LoadOverrides overrides, CancellationToken cancellationToken)
    {
        if (model.Backend != BackendKind.LlamaCpp && !overrides.IsEmpty)
        {
            throw new PlanInputException($"{model.Name}: per-load overrides ({overrides}) apply to llama.cpp models only; set this model's options in the config", isBadArgument: true);
        }

        var backend = config.Current.Backends.For(model);
        return model.Backend switch
        {
            BackendKind.Vllm => (null, EngineRequests.ReadVllm(model, backend, cancellationToken)),
            BackendKind.Ollama => (engines.ReadOllama(model, backend, OllamaModelStore.DirectoryUnder(config.Current.Server.DataDir), cancellationToken), null),
            // A generic model is placed by its declared or measured footprint, which needs no file of its own read.
            BackendKind.Generic => (null, null),
            _ => (ReadRequest(model, overrides, cancellationToken), null),
        };
    }

    /// <summary>The planner for the request's engine: vLLM's own, or the llama.cpp planner (llama.cpp and Ollama).</summary>
    private PlacementDecision Decide(ModelConfig model, PlacementContext context, LoadRequest? request, VllmRequest? vllm) =>
        vllm is not null ? VllmPlanner.Plan(context, vllm)
        : request is not null ? planner.Plan(context, request)
        : throw new PlanInputException($"{model.Name}: a model on a generic backend is placed by its declared footprint when it loads; ullmctl plan previews llama.cpp, Ollama and vLLM models");

    /// <summary>
    /// Off the loop: the machine as read now (RPC workers included) with the <paramref name="loaded"/> instances the loop
    /// handed out, the loads in flight not counted.
    /// </summary>
    private PlacementContext MachinePlacement(IReadOnlyList<LoadedInstance> loaded) =>
        PlanInputs.Placement(config.Current, machine.Gpus(), machine.HostAvailableBytes(), loaded, machine.RpcWorkers());

    /// <summary>On the loop: a load began or ended, so the one whose turn it is now may go.</summary>
    private void AdmissionChanged()
    {
        placementVersion++;
        admissionWake.TrySetResult();
        admissionWake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>On the loop: the ready instances with a plan, as the planner sees them.</summary>
    private List<LoadedInstance> LoadedInstances() =>
        [.. ReadyInstances().Where(i => i.Plan is not null).Select(ToLoaded)];

    /// <summary>The instance as the planner sees it; one adopted without a readable plan holds no memory it knows of.</summary>
    private static LoadedInstance ToLoaded(ModelInstance instance)
    {
        var plan = instance.Plan;
        var gpuBytes = plan is null ? [] : EngineRequests.GpuBytes(plan, instance.Backend);
        return new LoadedInstance(instance.Model.Name, gpuBytes, plan?.Estimate.HostTotalBytes ?? 0, instance.Model.Priority,
            instance.Model.Pinned, Busy: false, instance.LastUsed);
    }

    /// <summary>
    /// Marks a ready instance failed when its backend exits or stops answering its health check
    /// (<see cref="SchedulerOptions.HealthFailures"/> times in a row), then stops what is left of it, so requests on it
    /// end with an error instead of hanging.
    /// </summary>
    private async Task WatchExitAsync(ModelInstance instance, IBackendDriver driver)
    {
        var failure = await FirstFailureAsync(instance, driver).ConfigureAwait(false);
        var model = instance.Model.Name;
        string? reason;
        try
        {
            reason = await loop.AskAsync(() =>
            {
                Handle(new SchedulerEvent.BackendLost(model, instance.Id, failure));
                return effects.TakeLost(instance.Id);
            }).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        if (reason is null)
        {
            return;
        }

        // Read only now: the instance must be out of service at once, not after the journal answered.
        instance.Connections!.Dispose();
        Publish("failure", reason + await LastOutputAsync(instance.UnitName).ConfigureAwait(false), instance);
        try
        {
            await driver.StopAsync(instance.Backend!, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogCleanupFailed(instance.UnitName, e.Message);
        }
    }

    /// <summary>Why the backend is lost: its exit, or its unanswered health checks.</summary>
    private async Task<string> FirstFailureAsync(ModelInstance instance, IBackendDriver driver)
    {
        var backend = instance.Backend!;
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(shutdown.Token);
        var unhealthy = WatchHealthAsync(instance, driver, watching.Token);
        if (await Task.WhenAny(backend.Process.Exited, unhealthy).ConfigureAwait(false) == unhealthy && await unhealthy.ConfigureAwait(false) is { } silence)
        {
            return silence;
        }

        await watching.CancelAsync().ConfigureAwait(false);
        try
        {
            return $"backend exited: {(await backend.Process.Exited.ConfigureAwait(false)).Reason}";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"backend exited: its exit could not be observed: {e.Message}";
        }
    }

    /// <summary>The reason once the backend failed its health check too often in a row; null once it is no longer ready.</summary>
    private async Task<string?> WatchHealthAsync(ModelInstance instance, IBackendDriver driver, CancellationToken cancellationToken)
    {
        var failures = 0;
        var last = "";
        try
        {
            while (true)
            {
                await Task.Delay(options.HealthInterval, time, cancellationToken).ConfigureAwait(false);
                if (instance.State != InstanceState.Ready)
                {
                    return null;
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.HealthTimeout);
                try
                {
                    var healthy = await driver.CheckHealthAsync(instance.Backend!, timeout.Token).ConfigureAwait(false);
                    (failures, last) = healthy ? (0, "") : (failures + 1, "not healthy");
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    (failures, last) = (failures + 1, e is OperationCanceledException ? $"no answer within {options.HealthTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s" : e.Message);
                }

                if (failures >= options.HealthFailures)
                {
                    return $"backend stopped answering its health check ({failures} failures in a row, {options.HealthInterval.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s apart; last: {last})";
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<string> LastOutputAsync(string unit)
    {
        const int Lines = 3;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var lines = new List<string>();
            await foreach (var line in supervisor.ReadLogsAsync(unit, Lines, follow: false, timeout.Token).ConfigureAwait(false))
            {
                lines.Add(line.Message.Length > 200 ? line.Message[..200] + "…" : line.Message);
            }

            return lines.Count == 0 ? "" : $"; last output: {string.Join(" | ", lines)}";
        }
        catch (Exception e) when (e is BackendNotFoundException or InvalidOperationException or OperationCanceledException or IOException)
        {
            return "";
        }
    }

    /// <summary>On the loop: the move in memory, and its write queued.</summary>
    private void Move(ModelInstance instance, InstanceState next, string? reason = null, InstanceUpdate? learnt = null)
    {
        instance.MoveTo(next, time.GetUtcNow(), reason);
        placementVersion++;
        recorder.Moved(instance.Id, instance.UnitName, next, reason, learnt);
    }

    private static InstanceUpdate Learnt(RunningBackend backend) =>
        new(backend.BaseAddress.Port, backend.Process.MainPid, backend.Process.InvocationId);

    /// <summary>Run by the loop after each batch of events: what the synchronous readers see from now on.</summary>
    private void PublishView() => Volatile.Write(ref view, new SchedulerView(
        [.. CurrentInstances().Select(i => new PublishedInstance(Describe(i), i))],
        [.. Slots().Select(s => s.Hold)],
        Slots().ToDictionary(s => s.Model, s => s.Loading?.Waiters.Count ?? 0, StringComparer.Ordinal),
        LoadedMembers(),
        LoadedInstances(),
        [.. admission.Reservations]));

    private static InstanceInfo Describe(ModelInstance i) =>
        new(i.Id, i.Model.Name, i.UnitName, i.State, i.Transitions, i.Plan, i.Backend?.BaseAddress, i.Backend?.Process.MainPid, i.Leases, i.LastUsed)
        {
            Overrides = i.Overrides,
        };

    /// <summary>To WatchEvents subscribers and to the journal, where the state history of every instance can be read back.</summary>
    private void Publish(string kind, string message, ModelInstance? instance, string? model = null)
    {
        events.Publish(new DaemonEvent(time.GetUtcNow(), kind, message, instance?.Model.Name ?? model, instance?.UnitName, instance?.State.ToString().ToLowerInvariant()));
        if (kind == "failure")
        {
            LogFailureEvent(message);
        }
        else
        {
            LogEvent(kind, message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Kind:l}: {Message:l}")]
    private partial void LogEvent(string kind, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "failure: {Message:l}")]
    private partial void LogFailureEvent(string message);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pinned model {Model} did not load: {Reason}")]
    private partial void LogPinnedFailed(string model, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model}: {Leases} lease(s) still open after the drain timeout; stopping anyway")]
    private partial void LogDrainTimedOut(string model, int leases);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: left running for the next ullmd to adopt ({Model}; [server] stop_backends_on_exit = false)")]
    private partial void LogLeftRunning(string unit, string model);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cleaning up crashed unit {Unit} failed: {Reason}")]
    private partial void LogCleanupFailed(string unit, string reason);

    /// <summary>An instance a load stops to make room, with the reason it is given.</summary>
    private sealed record Victim(ModelInstance Instance, string Reason);

    /// <summary>
    /// A load's turn as the loop answered it: wait for <see cref="Wake"/>, plan beside the loads in flight from
    /// <see cref="Inputs"/>, run <see cref="Alone"/>, or <see cref="Began"/> beside them.
    /// </summary>
    private sealed record AdmissionTurn(Task? Wake, PlanningInputs? Inputs, bool Alone)
    {
        public Outcome<PlannedInstance>? Began { get; init; }
    }

    /// <summary>The ready instances and the reservations of the loads in flight a plan counts, at <see cref="Version"/>.</summary>
    private sealed record PlanningInputs(long Version, List<LoadedInstance> Loaded, List<LoadReservation> Reservations);

    /// <summary>A load running alone, planned: its instance, its plan, and the instances the plan evicts.</summary>
    private sealed record RoomPlanned(ModelInstance Instance, LoadPlan Plan, List<Victim> Victims);

    /// <summary>An instance with its plan, about to start.</summary>
    private sealed record PlannedInstance(ModelInstance Instance, LoadPlan Plan);

    /// <summary>A switch decided on the loop: the switched-out model's load in flight to wait for first, or the stop of its instance begun.</summary>
    private sealed record SwitchBegun(Task<Outcome<ModelInstance>>? Loading, Task? Stopped);

    /// <summary>An unload begun on the loop: its stop, the instance as it was, and the instance whose leases a force revokes.</summary>
    private sealed record UnloadBegun(Task Stopped, InstanceInfo Stopping, ModelInstance? Revoked);

    /// <summary>A request as the loop took it, named <see cref="Caller"/>: leased at once (<see cref="Served"/>), or waiting for <see cref="Pending"/>.</summary>
    private sealed record Queued(long Caller, PendingLoad? Pending, Served? Served);

    /// <summary>A ready instance and the lease on it that the caller now holds.</summary>
    private sealed record Served(ModelInstance Instance, ModelLease Lease);

    /// <summary>What a load got before it failed: the instance, from its plan on, so that the failure is recorded on it.</summary>
    private sealed class LoadAttempt
    {
        public ModelInstance? Instance { get; set; }
    }
}

using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Scheduling;

internal sealed partial class Scheduler
{
    public const string AdoptedReason = "adopted after ullmd restart";
    public const string GoneReason = "backend gone while ullmd was down";

    /// <summary>
    /// Run once at start, before requests and pinned loads: adopts each ullm-* backend a previous ullmd left running
    /// when its stored record is ready with the same invocation ID, its model is still configured for the same backend,
    /// and its driver confirms it serves; stops every other ullm-* unit, and marks failed the active records whose unit
    /// no longer runs. A shared server (Ollama's) has no record of its own: the ready records of the models it served
    /// carry its invocation ID, and it is kept when at least one of them is adopted.
    /// </summary>
    public async Task AdoptAsync(CancellationToken cancellationToken)
    {
        var running = (await supervisor.ListRunningAsync(cancellationToken).ConfigureAwait(false))
            .Where(p => p.UnitName.StartsWith(UnitName.Prefix, StringComparison.Ordinal))
            .ToList();
        List<Task> stops = [];
        var active = await store.ListActiveAsync(cancellationToken).ConfigureAwait(false);
        var adoptedShared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var process in running)
        {
            var record = await store.GetByUnitAsync(process.UnitName, cancellationToken).ConfigureAwait(false);
            var members = record is null && process.InvocationId is { } invocation
                ? active.Where(r => r.InvocationId == invocation && r.Unit != process.UnitName).ToList()
                : [];
            if (members.Count > 0)
            {
                foreach (var member in members)
                {
                    if (await TryAdoptAsync(member, process, cancellationToken).ConfigureAwait(false) is { } why)
                    {
                        LogNotAdopted(process.UnitName, member.Model, why);
                    }
                    else
                    {
                        adoptedShared.Add(member.Id);
                    }
                }

                if (members.Any(m => adoptedShared.Contains(m.Id)))
                {
                    continue;
                }
            }

            if (await TryAdoptAsync(record, process, cancellationToken).ConfigureAwait(false) is { } refusal)
            {
                stops.Add(StopUnadoptedAsync(process, record, refusal, cancellationToken));
            }
        }

        var runningUnits = running.Select(p => p.UnitName).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in await store.ListActiveAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!runningUnits.Contains(gone.Unit) && !adoptedShared.Contains(gone.Id))
            {
                LogGone(gone.Unit, gone.Model, gone.State.ToDatabase());
                recorder.Moved(gone.Id, gone.Unit, InstanceState.Failed, GoneReason);
            }
        }

        await Task.WhenAll(stops).ConfigureAwait(false);
        await recorder.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Adopts the backend and returns null, or returns why it is not adopted.</summary>
    private async Task<string?> TryAdoptAsync(InstanceRecord? record, BackendProcess process, CancellationToken cancellationToken)
    {
        if (record is null)
        {
            return "no record";
        }

        if (record.State != InstanceState.Ready)
        {
            return $"recorded as {record.State.ToDatabase()}, not ready";
        }

        if (record.InvocationId != process.InvocationId)
        {
            return "invocation id differs";
        }

        if (!config.Current.Models.TryGetValue(record.Model, out var model) || !model.Backend.IsStoredAs(record.Backend)
            || !drivers.TryGetValue(model.Backend, out var driver))
        {
            return "model no longer configured";
        }

        RunningBackend? backend;
        try
        {
            backend = await driver.AdoptAsync(record, process, model, config.Current.Backends.For(model), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            return $"unhealthy ({e.Message})";
        }

        if (backend is null)
        {
            return "unhealthy (not confirmed by its driver)";
        }

        var history = (await store.ListTransitionsAsync(record.Id, cancellationToken).ConfigureAwait(false))
            .Select(t => new InstanceTransition(t.State, t.At, t.Message)).ToList();
        if (await loop.AskAsync(() => Install(model, record, backend, driver, history)).ConfigureAwait(false) is not { } instance)
        {
            await driver.StopAsync(backend, cancellationToken).ConfigureAwait(false);
            return $"{model.Name} already has an active instance";
        }

        LogAdopted(record.Unit, model.Name, process.MainPid, backend.BaseAddress);
        Publish("adopt", $"{model.Name}: {AdoptedReason}: {record.Unit}, pid {process.MainPid}, at {backend.BaseAddress}", instance);
        return null;
    }

    /// <summary>On the loop: the adopted backend, its model's ready instance; null when the model has an active instance or a load in flight.</summary>
    private ModelInstance? Install(
        ModelConfig model, InstanceRecord record, RunningBackend backend, IBackendDriver driver, IEnumerable<InstanceTransition> history)
    {
        var slot = state.Slot(model.Name);
        if (slot.Instance is { Phase: not (InstancePhase.Stopped or InstancePhase.Failed) } || slot.Loading is not null)
        {
            return null;
        }

        var instance = ModelInstance.Adopted(record.Id, model, record.Unit, record.CreatedAt, history, time.GetUtcNow(), AdoptedReason);
        instance.Plan = LoadPlanJson.Read(record.PlanJson);
        instance.Serve(backend, UpstreamConnections.ForBackend(
            config.Current.Router.Timeouts.Connect, new RequestAdmission(backend.RequestSlots, options.QueueCapacity, options.QueueTimeout, time)));
        instance.LastUsed = record.LastUsedAt ?? record.StateSince;
        effects.Track(instance);
        placementVersion++;
        recorder.Moved(instance.Id, instance.UnitName, InstanceState.Ready, AdoptedReason, Learnt(backend));
        Handle(new SchedulerEvent.Adopted(model.Name, EffectRunner.AsSlotInstance(instance, InstancePhase.Ready)));
        instance.ExitWatch = WatchExitAsync(instance, driver);
        return instance;
    }

    private async Task StopUnadoptedAsync(BackendProcess process, InstanceRecord? record, string reason, CancellationToken cancellationToken)
    {
        LogNotAdopted(process.UnitName, record?.Model ?? process.Model, reason);
        events.Publish(new DaemonEvent(time.GetUtcNow(), "adopt", $"{process.UnitName}: not adopted ({reason}); stopping it", record?.Model, process.UnitName));
        try
        {
            if (!process.Exited.IsCompleted)
            {
                await supervisor.StopAsync(process.UnitName, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (BackendNotFoundException)
        {
            // Gone by itself in the meantime.
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            LogStopFailed(process.UnitName, e.Message);
        }

        if (record is not null && record.State.IsActive())
        {
            recorder.Moved(record.Id, record.Unit, InstanceState.Failed, $"not adopted after ullmd restart ({reason}); its unit was stopped");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: adopted ({Model}, pid {Pid}, at {BaseAddress}) without a reload")]
    private partial void LogAdopted(string unit, string model, int pid, Uri baseAddress);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: not adopted ({Model}): {Reason}; stopping it")]
    private partial void LogNotAdopted(string unit, string model, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: recorded as {State} for {Model}, but no longer runs; marked failed")]
    private partial void LogGone(string unit, string model, string state);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Unit}: stopping it failed: {Reason}")]
    private partial void LogStopFailed(string unit, string reason);
}

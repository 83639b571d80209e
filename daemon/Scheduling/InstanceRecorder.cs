using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// Writes the scheduler's instances and their transitions to the <see cref="InstanceStore"/> off the scheduler's loop:
/// the methods only queue, each write starting on the thread pool once the previous write of the same instance is done,
/// so an instance's rows land in the order its moves happened. A queue stays short: an instance moves at most six times
/// and holds at most one pending last-use write. A failed write is logged with the instance and goes no further.
/// </summary>
internal sealed partial class InstanceRecorder(InstanceStore store, ILogger logger)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Task> lastWrites = new(StringComparer.Ordinal);
    private readonly HashSet<string> touchesPending = new(StringComparer.Ordinal);

    /// <summary>Stores a new instance, in state planned, with its plan when it has one.</summary>
    public void Planned(ModelInstance instance)
    {
        var plan = instance.Plan;
        var record = new InstanceRecord
        {
            Id = instance.Id,
            Model = instance.Model.Name,
            Backend = instance.Model.Backend.ToDatabase(),
            Unit = instance.UnitName,
            State = InstanceState.Planned,
            StateSince = instance.CreatedAt,
            CreatedAt = instance.CreatedAt,
            Gpus = plan?.GpuIndices ?? [],
            GpuLayers = plan?.GpuLayers,
            Context = plan is null ? null : (int)plan.ContextLength,
            EstimatedBytes = plan is null ? null : (long)(plan.Estimate.GpuTotalBytes + plan.Estimate.HostTotalBytes),
            PlanJson = plan is null ? null : LoadPlanJson.Write(plan),
        };
        Enqueue(instance.Id, instance.UnitName, "planned", ct => store.InsertAsync(record, ct));
    }

    /// <summary>Stores a move with its message and what was learnt along the way (port, main PID, invocation ID).</summary>
    public void Moved(string id, string unit, InstanceState state, string? message, InstanceUpdate? learnt = null) =>
        Enqueue(id, unit, $"the move to {state.ToDatabase()}", ct => store.UpdateStateAsync(id, state, message, learnt, ct));

    /// <summary>Stores that the instance was just used, unless such a write is already waiting (it will read the time then).</summary>
    public void Used(ModelInstance instance)
    {
        lock (gate)
        {
            if (!touchesPending.Add(instance.Id))
            {
                return;
            }
        }

        Enqueue(instance.Id, instance.UnitName, "its last use", ct =>
        {
            lock (gate)
            {
                touchesPending.Remove(instance.Id);
            }

            return store.TouchAsync(instance.Id, ct);
        });
    }

    /// <summary>Completes once every write queued before the call has been made (or has failed and been logged).</summary>
    public Task FlushAsync()
    {
        lock (gate)
        {
            return Task.WhenAll(lastWrites.Values);
        }
    }

    private void Enqueue(string id, string unit, string what, Func<CancellationToken, Task> write)
    {
        lock (gate)
        {
            var previous = lastWrites.GetValueOrDefault(id) ?? Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lastWrites[id] = done.Task;
            _ = WriteAfterAsync(previous, done, id, unit, what, write);
        }
    }

    /// <summary>Never throws: a failure is logged, and <paramref name="done"/> completes either way.</summary>
    private async Task WriteAfterAsync(Task previous, TaskCompletionSource done, string id, string unit, string what, Func<CancellationToken, Task> write)
    {
        // Always yields, so the write never runs on the caller's thread, which may be the scheduler's loop.
        await previous.ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.SuppressThrowing);
        try
        {
            await write(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogWriteFailed(e, id, unit, what, e.Message);
        }
        finally
        {
            lock (gate)
            {
                if (lastWrites.TryGetValue(id, out var last) && last == done.Task)
                {
                    lastWrites.Remove(id);
                }
            }

            done.SetResult();
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Instance {Id} ({Unit}): storing {What} failed: {Reason}")]
    private partial void LogWriteFailed(Exception e, string id, string unit, string what, string reason);
}

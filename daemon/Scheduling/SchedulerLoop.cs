using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The one task that owns the scheduler's state. Handlers posted here run one at a time, in the order they were
/// posted, on the single reader of a bounded channel, so the state they touch needs no lock. A handler never blocks
/// and never waits: slow work (reading the machine and planning, starting or stopping a backend, draining, waiting for
/// readiness) runs outside and posts its result back as another handler. After each batch of handlers,
/// <c>handled</c> runs (the scheduler publishes the view its synchronous readers see) before any caller of the batch
/// is answered, so whoever is answered sees the state its handler left.
/// </summary>
internal sealed partial class SchedulerLoop : IAsyncDisposable
{
    /// <summary>Events waiting for the loop; a poster beyond it waits for room (backpressure, not an unbounded queue).</summary>
    public const int Capacity = 4096;

    /// <summary>Handlers run between two publications of the view, so a burst does not delay every answer to its end.</summary>
    private const int BatchLimit = 64;

    private readonly Channel<Func<Action?>> events = Channel.CreateBounded<Func<Action?>>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly Action handled;
    private readonly ILogger logger;
    private readonly Task reader;

    public SchedulerLoop(Action handled, ILogger logger)
    {
        this.handled = handled;
        this.logger = logger;
        reader = Task.Run(ReadAsync, CancellationToken.None);
    }

    /// <summary>
    /// Runs <paramref name="handle"/> on the loop and returns its answer (or its exception). Not cancellable once posted:
    /// the handler changes state its caller counts on. <see cref="ObjectDisposedException"/> once the loop has stopped.
    /// </summary>
    public async Task<T> AskAsync<T>(Func<T> handle)
    {
        var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        await WriteAsync(() =>
        {
            try
            {
                var value = handle();
                return () => answer.TrySetResult(value);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return () => answer.TrySetException(e);
            }
        }).ConfigureAwait(false);
        return await answer.Task.ConfigureAwait(false);
    }

    public Task AskAsync(Action handle) => AskAsync(() =>
    {
        handle();
        return true;
    });

    /// <summary>As <see cref="AskAsync(Action)"/>, for what may come after the scheduler stopped: false then, and nothing ran.</summary>
    public async Task<bool> TryAskAsync(Action handle)
    {
        try
        {
            await AskAsync(handle).ConfigureAwait(false);
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>
    /// For callbacks that cannot wait (timers, config reloads): <paramref name="handle"/> runs on the loop later; a failure
    /// is logged under <paramref name="name"/>, and so is an event that came after the loop stopped.
    /// </summary>
    public void Post(string name, Action handle)
    {
        Action? Run()
        {
            try
            {
                handle();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogHandlerFailed(name, e.Message);
            }

            return null;
        }

        if (!events.Writer.TryWrite(Run))
        {
            _ = PostLaterAsync(name, Run);
        }
    }

    public async ValueTask DisposeAsync()
    {
        events.Writer.TryComplete();
        await reader.ConfigureAwait(false);
    }

    private async Task PostLaterAsync(string name, Func<Action?> run)
    {
        try
        {
            await WriteAsync(run).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            LogDropped(name);
        }
    }

    private async Task WriteAsync(Func<Action?> handler)
    {
        try
        {
            await events.Writer.WriteAsync(handler).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(Scheduler), "the scheduler has stopped");
        }
    }

    private async Task ReadAsync()
    {
        List<Action> answers = [];
        while (await events.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            for (var run = 0; run < BatchLimit && events.Reader.TryRead(out var handler); run++)
            {
                if (handler() is { } answer)
                {
                    answers.Add(answer);
                }
            }

            try
            {
                handled();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogHandlerFailed("publishing the view", e.Message);
            }

            foreach (var answer in answers)
            {
                answer();
            }

            answers.Clear();
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduler: {Event} failed: {Reason}")]
    private partial void LogHandlerFailed(string @event, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scheduler: {Event} came after the scheduler stopped; dropped")]
    private partial void LogDropped(string @event);
}

using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Wakes llama-server's readiness probe as soon as its output says it may answer (its model is loaded, it listens),
/// instead of at the next poll (<see cref="ReadinessPolling"/>), which stays the guarantee: a line is only a hint, and
/// one missed or early costs nothing but that poll. Follows the process supervisor's output buffer, which reads the
/// output file on inotify's notice; under systemd, which has no such buffer (<see cref="BackendProcess.Output"/>), it
/// never wakes.
/// </summary>
internal sealed class ReadyLineWake : IAsyncDisposable
{
    private readonly CancellationTokenSource stop;
    private readonly Task following;
    private readonly Pulse said = new();

    public ReadyLineWake(BackendProcess process, CancellationToken cancellationToken)
    {
        stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        following = process.Output is { } output ? FollowAsync(output, stop.Token) : Task.CompletedTask;
    }

    /// <summary>Completes at the first such line after the call: taken before a probe, so a line during the probe is not missed.</summary>
    public Task Next() => said.Next();

    /// <summary>llama-server's lines as it turns ready: "main: model loaded", "srv  start: listening on http://…".</summary>
    public static bool SaysReady(string line) =>
        line.Contains(": model loaded", StringComparison.Ordinal) || line.Contains(": listening on ", StringComparison.Ordinal);

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await following.ConfigureAwait(false);
        stop.Dispose();
    }

    private async Task FollowAsync(BackendLogBuffer output, CancellationToken cancellationToken)
    {
        try
        {
            // From the oldest line kept: one that came before the probe began wakes it at once.
            await foreach (var line in output.ReadAsync(output.Capacity, follow: true, cancellationToken).ConfigureAwait(false))
            {
                if (SaysReady(line.Message))
                {
                    said.Fire();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The probe is done.
        }
    }
}

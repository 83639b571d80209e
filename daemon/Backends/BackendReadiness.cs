using System.Text;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Waits for a freshly started backend to answer its readiness endpoint. The wait ends early when the process exits,
/// and every failure carries the exit status and the backend's last log lines, which is where backends say why. Those
/// lines are read once the backend is stopped (<see cref="FailedAsync"/>): its output reaches the log by polling, so
/// what a running server wrote last, or says as it stops, is only all there after it is gone.
/// </summary>
internal sealed class BackendReadiness(IBackendSupervisor supervisor, HttpClient http, TimeProvider time)
{
    public const int LogLinesInErrors = 20;

    /// <summary>Polls <paramref name="readinessUri"/> until it answers 200, the process exits, or <paramref name="timeout"/> passes.</summary>
    public async Task WaitAsync(BackendProcess process, Uri readinessUri, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var lastAnswer = "no answer yet";
        var started = time.GetTimestamp();
        while (true)
        {
            if (process.Exited.IsCompleted)
            {
                var exit = await process.Exited;
                throw await FailedAsync(process, $"{process.Model}: backend exited before it was ready ({exit.Reason})", cancellationToken);
            }

            try
            {
                using var response = await http.GetAsync(readinessUri, deadline.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                lastAnswer = $"{readinessUri} answered {(int)response.StatusCode}";
            }
            catch (HttpRequestException e)
            {
                lastAnswer = $"{readinessUri}: {e.Message}";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.WhenAny(Task.Delay(ReadinessPolling.After(time.GetElapsedTime(started)), time, deadline.Token), process.Exited).WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        throw await FailedAsync(process, $"{process.Model}: backend not ready after {timeout.TotalSeconds:0.#} s (last: {lastAnswer})", cancellationToken);
    }

    /// <summary>Stops a backend that failed to start, if it still runs, then gives <paramref name="reason"/> with its last output.</summary>
    public async Task<BackendStartException> FailedAsync(BackendProcess process, string reason, CancellationToken cancellationToken)
    {
        if (!process.Exited.IsCompleted)
        {
            await supervisor.StopAsync(process.UnitName, CancellationToken.None);
        }

        return new BackendStartException(reason + await LogTailAsync(process.UnitName, cancellationToken));
    }

    /// <summary>The backend's last log lines, each on its own indented line, or an empty string when it logged nothing.</summary>
    public async Task<string> LogTailAsync(string unitName, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        try
        {
            await foreach (var line in supervisor.ReadLogsAsync(unitName, LogLinesInErrors, follow: false, cancellationToken))
            {
                text.Append("\n  ").Append(line.Message);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            text.Append("\n  (its log could not be read: ").Append(e.Message).Append(')');
        }

        return text.Length == 0 ? string.Empty : "; its last output:" + text;
    }
}

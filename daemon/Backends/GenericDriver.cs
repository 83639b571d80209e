using System.Collections.Concurrent;
using System.Globalization;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Any OpenAI-compatible server, one process per model, from a <c>kind = "generic"</c> backend's command template
/// (<see cref="GenericCommandLine"/>), under the same supervisor, sandbox and slice as the built-in backends. It is ready
/// when its health path answers the configured status within <c>ready_timeout_seconds</c>, and only from a socket one
/// of its own processes holds: a port another program took in the meantime answers too, but is not the backend.
/// </summary>
internal sealed class GenericDriver(IBackendSupervisor supervisor, HttpClient http, TimeProvider time) : IBackendDriver
{
    private readonly BackendReadiness readiness = new(supervisor, http, time);

    /// <summary>Each running backend's health URI and the status that means healthy, by unit (as started, whatever a reload changes).</summary>
    private readonly ConcurrentDictionary<string, (Uri Uri, int Status)> healthByUnit = new(StringComparer.Ordinal);

    public BackendKind Kind => BackendKind.Generic;

    public async Task<RunningBackend> StartAsync(BackendStart start, CancellationToken cancellationToken)
    {
        var generic = start.Backend.Generic
            ?? throw new BackendStartException($"{start.Model.Name}: [backends.{start.Model.BackendKey}] is not a generic backend");
        var port = LoopbackPort.Allocate();
        var process = await supervisor.StartAsync(GenericCommandLine.Build(start, generic, port), cancellationToken);
        var backend = Track(start.Model.Name, generic, process, port);
        start.Loading?.Invoke($"{Path.GetFileName(start.Backend.Executable)} (pid {process.MainPid}) is starting; ready when it answers its health check");
        try
        {
            await WaitReadyAsync(backend, generic, port, cancellationToken);
        }
        catch (BackendStartException e)
        {
            healthByUnit.TryRemove(process.UnitName, out _);
            throw await readiness.FailedAsync(process, e.Message, cancellationToken);
        }
        catch
        {
            await ForgetAsync(process);
            throw;
        }

        return backend;
    }

    /// <summary>Stops a server that failed to start, if it still runs, and forgets its health path.</summary>
    private async Task ForgetAsync(BackendProcess process)
    {
        healthByUnit.TryRemove(process.UnitName, out _);
        if (!process.Exited.IsCompleted)
        {
            await supervisor.StopAsync(process.UnitName, CancellationToken.None);
        }
    }

    public async Task StopAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        try
        {
            if (!backend.Process.Exited.IsCompleted)
            {
                await supervisor.StopAsync(backend.Process.UnitName, cancellationToken);
            }
        }
        finally
        {
            healthByUnit.TryRemove(backend.Process.UnitName, out _);
        }
    }

    /// <summary>Takes over the server on its recorded port once its health path answers as its backend's config says.</summary>
    public async Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, ModelConfig model, BackendConfig settings, CancellationToken cancellationToken)
    {
        if (record.Port is not { } port || settings.Generic is not { } generic)
        {
            return null;
        }

        var backend = Track(record.Model, generic, process, port);
        if (await CheckHealthAsync(backend, cancellationToken))
        {
            return backend;
        }

        healthByUnit.TryRemove(process.UnitName, out _);
        return null;
    }

    public async Task<bool> CheckHealthAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        if (backend.Process.Exited.IsCompleted || !healthByUnit.TryGetValue(backend.Process.UnitName, out var health))
        {
            return false;
        }

        try
        {
            using var response = await http.GetAsync(health.Uri, cancellationToken);
            return (int)response.StatusCode == health.Status;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The client's own timeout: it does not answer.
            return false;
        }
    }

    private RunningBackend Track(string model, GenericCommand generic, BackendProcess process, int port)
    {
        var root = new Uri($"http://{GenericCommandLine.Host}:{port.ToString(CultureInfo.InvariantCulture)}/");
        healthByUnit[process.UnitName] = (new Uri(root, generic.HealthPath), generic.HealthStatus);
        return new RunningBackend(model, root, model, process)
        {
            ApiBase = new Uri(root, generic.ApiPrefix.TrimEnd('/') + "/"),
        };
    }

    /// <summary>
    /// Polls the health path until it answers the expected status from the backend's own socket; fails at once when the
    /// process exits or another program answers on the port, and after the ready timeout, each time saying why (the
    /// caller adds the backend's last output).
    /// </summary>
    private async Task WaitReadyAsync(RunningBackend backend, GenericCommand generic, int port, CancellationToken cancellationToken)
    {
        var process = backend.Process;
        var health = healthByUnit[process.UnitName].Uri;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(generic.ReadyTimeout);
        var last = "no answer yet";
        var started = time.GetTimestamp();
        try
        {
            while (true)
            {
                if (process.Exited.IsCompleted)
                {
                    var exit = await process.Exited;
                    throw new BackendStartException(
                        $"{generic.Command[0]} exited before it was ready ({exit.Reason})");
                }

                try
                {
                    using var response = await http.GetAsync(health, deadline.Token);
                    var status = (int)response.StatusCode;
                    if (status == generic.HealthStatus)
                    {
                        if (ProcessTree.HoldsListener(ProcessTree.Of(process.MainPid), port) == false)
                        {
                            throw new BackendStartException(
                                $"port {port.ToString(CultureInfo.InvariantCulture)} answers {health}, but from a program that is not the backend: the port was "
                                + $"taken before {generic.Command[0]} could listen on it");
                        }

                        return;
                    }

                    last = $"{health} answered {status.ToString(CultureInfo.InvariantCulture)}, expected {generic.HealthStatus.ToString(CultureInfo.InvariantCulture)} (health_status)";
                }
                catch (HttpRequestException e)
                {
                    last = $"{health}: {Describe(e)}";
                }

                await Task.WhenAny(Task.Delay(ReadinessPolling.After(time.GetElapsedTime(started)), time, deadline.Token), process.Exited).WaitAsync(deadline.Token);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new BackendStartException(
                $"not ready within {generic.ReadyTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (ready_timeout_seconds; last: {last})");
        }
    }

    private static string Describe(HttpRequestException e) => e.InnerException?.Message ?? e.Message;
}

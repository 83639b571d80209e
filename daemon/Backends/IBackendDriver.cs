using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// How one kind of backend (llama.cpp, Ollama, vLLM) is started, checked and stopped. The scheduler decides what and
/// where; the driver turns that into processes (through the <see cref="Supervision.IBackendSupervisor"/>) and HTTP calls.
/// </summary>
internal interface IBackendDriver
{
    BackendKind Kind { get; }

    /// <summary>Starts the backend for one model (Ollama: loads it into the shared server) and returns once it serves.</summary>
    Task<RunningBackend> StartAsync(BackendStart start, CancellationToken cancellationToken);

    /// <summary>Stops it gracefully (Ollama: unloads it with keep_alive 0; the shared server stops with the last model).</summary>
    Task StopAsync(RunningBackend backend, CancellationToken cancellationToken);

    /// <summary>
    /// Takes over a backend a previous ullmd started (<paramref name="record"/> is what it stored, <paramref name="process"/>
    /// what the supervisor still runs, <paramref name="model"/> and <paramref name="settings"/> the settings in force) when
    /// it serves as recorded; null when it does not, and the unit is then stopped.
    /// </summary>
    Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, ModelConfig model, BackendConfig settings, CancellationToken cancellationToken);

    /// <summary>Whether it still answers its health endpoint.</summary>
    Task<bool> CheckHealthAsync(RunningBackend backend, CancellationToken cancellationToken);
}

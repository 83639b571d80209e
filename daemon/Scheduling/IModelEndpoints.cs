namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The gateway's one question to the scheduler: a ready OpenAI-compatible endpoint for a local model, loading it on demand.
/// The lease keeps the instance from being evicted until it is disposed (when the response, stream included, has ended).
/// A refusal is a <see cref="LeaseFailure"/>; the gateway decides what the client sees.
/// </summary>
internal interface IModelEndpoints
{
    /// <summary>Whether <paramref name="model"/> (a name or alias) is a configured local model; its canonical name if so.</summary>
    bool TryResolve(string model, out string canonicalName);

    ValueTask<Outcome<ModelLease>> AcquireAsync(string model, CancellationToken cancellationToken);

    /// <summary>Where each load in flight stands, for a streaming request told of the cold load it waits on.</summary>
    LoadProgressBoard Progress { get; }

    /// <summary>The canonical names of the local models that are loaded and ready now (GET /v1/models reports them).</summary>
    IReadOnlySet<string> ReadyModels();

    /// <summary>
    /// Whether a load of <paramref name="model"/> now would be planned here without evicting anything: where a model
    /// loaded nowhere goes first when peers could take it. A model that cannot be planned ahead counts as fitting: its
    /// load says why it fails.
    /// </summary>
    bool FitsWithoutEviction(string model);
}

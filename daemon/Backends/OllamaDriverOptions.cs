namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Settings of the one shared <c>ollama serve</c>. <see cref="ServerGpuIndices"/> are the GPUs the server may use when it
/// starts (it serves every Ollama model, so every GPU ullmd may use); each model's own layers come from its plan.
/// </summary>
internal sealed record OllamaDriverOptions
{
    public string ModelsDirectory { get; init; } = "/var/lib/ullm/ollama";

    /// <summary>
    /// How many Ollama models the config has now: OLLAMA_MAX_LOADED_MODELS when [backends.ollama] max_loaded is 0, so that
    /// Ollama never unloads a model to make room for one ullmd decided to load alongside it.
    /// </summary>
    public Func<int> ConfiguredModels { get; init; } = () => 1;

    public Func<IReadOnlyList<int>> ServerGpuIndices { get; init; } = () => [];

    public TimeSpan ServerStartTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long one model may take to load into the server (reading weights, offloading layers).</summary>
    public TimeSpan LoadTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

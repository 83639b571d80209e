namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Settings of the one shared <c>ollama serve</c>. <see cref="ServerGpuIndices"/> are the GPUs the server may use (it
/// serves every Ollama model, so all GPUs the host lends to Ollama); each model's own layers come from its plan.
/// </summary>
internal sealed record OllamaDriverOptions
{
    public string ModelsDirectory { get; init; } = "/var/lib/ullm/ollama";

    /// <summary>OLLAMA_MAX_LOADED_MODELS; ullmd's scheduler decides what is loaded, so this is only Ollama's own ceiling.</summary>
    public int MaxLoadedModels { get; init; } = 3;

    public IReadOnlyList<int> ServerGpuIndices { get; init; } = [];

    public TimeSpan ServerStartTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long one model may take to load into the server (reading weights, offloading layers).</summary>
    public TimeSpan LoadTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

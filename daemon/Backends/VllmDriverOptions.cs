namespace UnifiedLlm.Daemon.Backends;

internal sealed record VllmDriverOptions
{
    /// <summary>vLLM downloads or reads weights, profiles memory and captures CUDA graphs before /health answers 200.</summary>
    public TimeSpan LoadTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// A backend ready to serve one model: where to send OpenAI-compatible requests, and the model name the backend knows it
/// by. <see cref="Process"/> is the backend's own process; for a model inside the shared Ollama server it is that server.
/// <see cref="RequestSlots"/> is how many requests it serves at once; the gateway keeps the others waiting in ullmd.
/// </summary>
internal sealed record RunningBackend(string Model, Uri BaseAddress, string UpstreamModel, BackendProcess Process, int RequestSlots = 1)
{
    /// <summary>GPU memory the backend itself reports holding for this model (Ollama's <c>size_vram</c>), or null when it reports none.</summary>
    public ulong? ReportedGpuBytes { get; init; }

    /// <summary>Where its OpenAI endpoints are when not below <c>v1/</c> (a generic backend's api_prefix); null: <c>v1/</c>.</summary>
    public Uri? ApiBase { get; init; }
}

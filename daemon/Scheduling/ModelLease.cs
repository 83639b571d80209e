using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// A ready backend for one request. <see cref="BaseAddress"/> is the backend's root (e.g. http://127.0.0.1:41234/),
/// <see cref="UpstreamModel"/> the name to put in the forwarded request's "model" field, and <see cref="Connections"/>
/// the backend's own connection pool, which lives as long as the backend serves.
/// </summary>
internal sealed class ModelLease(string model, Uri baseAddress, string upstreamModel, UpstreamConnections connections, Func<ValueTask> release)
    : IAsyncDisposable
{
    private int released;

    public string Model { get; } = model;

    public Uri BaseAddress { get; } = baseAddress;

    public string UpstreamModel { get; } = upstreamModel;

    /// <summary>The backend's OpenAI API base when it is not <see cref="BaseAddress"/> + <c>v1/</c>; null when it is.</summary>
    public Uri? ApiBase { get; init; }

    public UpstreamConnections Connections { get; } = connections;

    /// <summary>Cancelled when the instance is unloaded with force: the request on this lease must end at once.</summary>
    public CancellationToken Revoked { get; init; }

    /// <summary>
    /// Completes, with the scheduler's account of why, if the backend is lost while it serves: what a request that
    /// found it gone tells its client instead of "connection refused". Never completes for one that is not lost.
    /// </summary>
    public Task<string> Lost { get; init; } = NeverLost;

    private static Task<string> NeverLost { get; } = new TaskCompletionSource<string>().Task;

    public ValueTask DisposeAsync() => Interlocked.Exchange(ref released, 1) == 0 ? release() : ValueTask.CompletedTask;
}

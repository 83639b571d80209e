namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// A ready backend for one request. <see cref="BaseAddress"/> is the backend's root (e.g. http://127.0.0.1:41234/), and
/// <see cref="UpstreamModel"/> the name to put in the forwarded request's "model" field.
/// </summary>
internal sealed class ModelLease(string model, Uri baseAddress, string upstreamModel, Func<ValueTask> release) : IAsyncDisposable
{
    private int released;

    public string Model { get; } = model;

    public Uri BaseAddress { get; } = baseAddress;

    public string UpstreamModel { get; } = upstreamModel;

    public ValueTask DisposeAsync() => Interlocked.Exchange(ref released, 1) == 0 ? release() : ValueTask.CompletedTask;
}

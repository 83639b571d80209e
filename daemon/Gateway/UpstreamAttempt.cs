using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// A target that has answered: the whole body, or a stream whose first content chunk has arrived (held back with the
/// chunks before it). Disposing it ends the upstream request and releases the local model's lease.
/// </summary>
internal sealed class UpstreamAttempt(
    RouteTarget target,
    WireFormat format,
    ModelLease? lease,
    RequestAdmission.RequestSlot? slot,
    string? apiKey,
    UpstreamReply reply,
    CancellationTokenSource timeouts,
    CancellationTokenRegistration revocation,
    IAsyncEnumerator<UpstreamChunk>? chunks,
    IReadOnlyList<(UpstreamChunk Chunk, ChunkInfo Info)> held,
    TimeSpan timeToFirstToken) : IAsyncDisposable
{
    public RouteTarget Target { get; } = target;

    /// <summary>The format the upstream answers in, which its chunks are read as.</summary>
    public WireFormat Format { get; } = format;

    /// <summary>The provider's key this attempt sent, to take out of anything the upstream says.</summary>
    public string? ApiKey { get; } = apiKey;

    public UpstreamReply Reply { get; } = reply;

    /// <summary>Cancelled by the client's disconnect, by the timeout set with CancelAfter before each read, or by a forced unload.</summary>
    public CancellationTokenSource Timeouts { get; } = timeouts;

    public IAsyncEnumerator<UpstreamChunk>? Chunks { get; } = chunks;

    /// <summary>A stream's chunks up to its first content, or the whole body as one; each inspected once.</summary>
    public IReadOnlyList<(UpstreamChunk Chunk, ChunkInfo Info)> Held { get; } = held;

    public TimeSpan TimeToFirstToken { get; } = timeToFirstToken;

    /// <summary>Whether the local model's instance was unloaded with force under this attempt (which cancelled it).</summary>
    public bool Revoked => lease?.Revoked.IsCancellationRequested == true;

    public async ValueTask DisposeAsync()
    {
        Timeouts.Cancel();
        if (Chunks is not null)
        {
            await Chunks.DisposeAsync();
        }

        Reply.Dispose();
        await revocation.DisposeAsync();
        Timeouts.Dispose();
        slot?.Dispose();
        if (lease is not null)
        {
            await lease.DisposeAsync();
        }
    }
}

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// A successful upstream answer in OpenAI's format: the whole JSON body, or the stream of chunks as they arrive.
/// Disposing it ends the upstream request (and its connection, if the stream was not read to the end).
/// </summary>
internal sealed class UpstreamReply(IDisposable response, byte[]? body, IAsyncEnumerable<UpstreamChunk>? chunks) : IDisposable
{
    public byte[]? Body { get; } = body;

    public IAsyncEnumerable<UpstreamChunk>? Chunks { get; } = chunks;

    public void Dispose() => response.Dispose();
}

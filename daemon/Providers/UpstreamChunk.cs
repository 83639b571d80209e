namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// One streamed event in OpenAI's chunk format (the JSON after "data: "), or the end marker "[DONE]". Its bytes may be
/// the reader's buffer, valid until the enumerator moves on: what is kept longer is copied.
/// </summary>
/// <param name="MoreBuffered">The next event came in the same read and follows without waiting: a relay may write both before it flushes.</param>
internal readonly record struct UpstreamChunk(ReadOnlyMemory<byte> Json, bool Done, bool MoreBuffered = false)
{
    public static UpstreamChunk EndOfStream { get; } = new(ReadOnlyMemory<byte>.Empty, true);
}

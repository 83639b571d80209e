namespace UnifiedLlm.Daemon.Providers;

/// <summary>One streamed event in OpenAI's chunk format (the JSON after "data: "), or the end marker "[DONE]".</summary>
internal readonly record struct UpstreamChunk(ReadOnlyMemory<byte> Json, bool Done)
{
    public static UpstreamChunk EndOfStream { get; } = new(ReadOnlyMemory<byte>.Empty, true);
}

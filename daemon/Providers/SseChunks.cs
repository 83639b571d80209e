using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Reads an upstream's server-sent events as they arrive.</summary>
internal static class SseChunks
{
    /// <summary>OpenAI-style: each data field is a chunk, "[DONE]" ends the stream (a Responses API stream ends with its last event instead).</summary>
    public static async IAsyncEnumerable<UpstreamChunk> ReadOpenAiAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in ReadAsync(stream, cancellationToken))
        {
            if (item.Data.Span.SequenceEqual("[DONE]"u8))
            {
                yield return UpstreamChunk.EndOfStream;
                yield break;
            }

            yield return new UpstreamChunk(item.Data, false);
        }
    }

    /// <summary>Every event with its type; malformed framing cannot occur in SSE, malformed data is the reader's to judge.</summary>
    public static IAsyncEnumerable<SseItem<ReadOnlyMemory<byte>>> ReadAsync(Stream stream, CancellationToken cancellationToken) =>
        SseParser.Create(stream, static (_, data) => (ReadOnlyMemory<byte>)data.ToArray()).EnumerateAsync(cancellationToken);

    public static UpstreamFailure Malformed(string upstream, string what) => new(502, $"{upstream}: malformed stream: {what}", retryable: true);
}

using System.Runtime.CompilerServices;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Reads an OpenAI-style upstream's server-sent events as they arrive.</summary>
internal static class SseChunks
{
    /// <summary>
    /// Each event's data is a chunk, "[DONE]" ends the stream (a Responses API stream ends with its last event instead).
    /// A chunk's bytes are the read buffer's, valid until the enumerator moves on; each chunk says whether the next one
    /// came with it in the same read (<see cref="UpstreamChunk.MoreBuffered"/>).
    /// </summary>
    public static async IAsyncEnumerable<UpstreamChunk> ReadOpenAiAsync(Stream stream, string upstream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var events = new SseEventBuffer(upstream);
        while (await events.ReadAsync(stream, cancellationToken))
        {
            if (!events.TryTake(out var item))
            {
                continue;
            }

            var data = item.Data;
            while (true)
            {
                if (data.Span.SequenceEqual("[DONE]"u8))
                {
                    yield return UpstreamChunk.EndOfStream;
                    yield break;
                }

                // The next event is taken before this one goes out, to tell the relay whether to flush after it.
                var more = events.TryTake(out var next);
                yield return new UpstreamChunk(data, false, more);
                if (!more)
                {
                    break;
                }

                data = next.Data;
            }
        }
    }

    public static UpstreamFailure Malformed(string upstream, string what) => new(502, $"{upstream}: malformed stream: {what}", retryable: true);
}

using System.Buffers;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Reads a whole HTTP body, a client's request or an upstream's response, into one array.</summary>
internal static class WholeBody
{
    private const long MaxPreallocated = 16 * 1024 * 1024;

    /// <summary>
    /// Read straight into an array of the announced length when there is one, up to a size that a wrong Content-Length
    /// cannot turn into a huge allocation. Without one (a chunked body), read into pooled buffers and copied out once.
    /// </summary>
    public static async Task<byte[]> ReadAsync(Stream stream, long? announcedLength, CancellationToken cancellationToken)
    {
        if (announcedLength is { } exact and <= MaxPreallocated)
        {
            var body = new byte[exact];
            await stream.ReadExactlyAsync(body, cancellationToken);
            return body;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var filled = 0;
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
            {
                filled += read;
                if (filled == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
            }

            return buffer.AsSpan(0, filled).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

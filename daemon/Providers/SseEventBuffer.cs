using System.Buffers;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// Server-sent events framed in place in the bytes read from an upstream (lines end with CR, LF or CRLF; a line starting
/// with ':' is a comment; a blank line dispatches the event's data lines, joined with LF, under the type its last
/// "event" line names). An event's type and data are slices of the read buffer, valid until the next <see cref="Space"/>;
/// only an event of several data lines is copied. Ids and retry times are read past: no upstream's stream is resumed. An
/// event without data dispatches nothing, and one the stream ends inside is discarded, as the SSE spec says.
/// </summary>
/// <param name="upstream">Named in the failure when an event outgrows <paramref name="maxEventBytes"/>.</param>
/// <param name="maxEventBytes">An upstream that never ends an event is cut off there rather than buffered without bound.</param>
internal sealed class SseEventBuffer(string upstream, int maxEventBytes = SseEventBuffer.MaxEventBytes) : IDisposable
{
    public const int MaxEventBytes = 64 * 1024 * 1024;

    private const int InitialBytes = 16 * 1024;

    /// <summary>The type of an event that names none (or names the empty string), per the SSE spec.</summary>
    private static readonly ReadOnlyMemory<byte> DefaultType = "message"u8.ToArray();

    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    private byte[] buffer = ArrayPool<byte>.Shared.Rent(InitialBytes);

    /// <summary>The first byte not yet consumed.</summary>
    private int start;

    /// <summary>The end of the bytes read.</summary>
    private int end;

    private bool bomChecked;

    /// <summary>The last blank line ended with a CR that ended the bytes read: an LF that comes next belongs to it.</summary>
    private bool skipLineFeed;

    // The event being read, as offsets from start (which the buffer's compaction moves): where its next line begins, how
    // far that line was searched for its end, how many data lines it has, the last one's value, and the last type named.
    private int lineAt;
    private int searchedTo;
    private int dataLines;
    private int valueAt;
    private int valueLength;
    private int typeAt;
    private int typeLength;

    /// <summary>The stream has ended: what is left is an incomplete event.</summary>
    public bool Ended { get; private set; }

    /// <summary>The buffer's free part for the next read, after the unconsumed bytes (moved to the front, the buffer grown if they fill it).</summary>
    public Memory<byte> Space()
    {
        if (start > 0)
        {
            buffer.AsSpan(start, end - start).CopyTo(buffer);
            end -= start;
            start = 0;
        }

        if (end == buffer.Length)
        {
            if (buffer.Length >= maxEventBytes)
            {
                throw SseChunks.Malformed(upstream, $"an event longer than {maxEventBytes / 1024} KiB");
            }

            var grown = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, maxEventBytes));
            buffer.AsSpan(0, end).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = grown;
        }

        return buffer.AsMemory(end);
    }

    /// <summary>Counts <paramref name="count"/> bytes read into <see cref="Space"/>; none means the stream ended.</summary>
    public void Received(int count)
    {
        end += count;
        Ended = count == 0;
    }

    /// <summary>Reads once from <paramref name="stream"/> into <see cref="Space"/>; false once the stream's end was read before, when no event is left to take.</summary>
    public async ValueTask<bool> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        if (Ended)
        {
            return false;
        }

        Received(await stream.ReadAsync(Space(), cancellationToken));
        return true;
    }

    /// <summary>The next complete event among the bytes read, without reading; false when no complete event is buffered.</summary>
    public bool TryTake(out SseEvent item)
    {
        item = default;
        if (!SkipPreamble())
        {
            return false;
        }

        while (true)
        {
            // A line that ended no read yet is searched on from where the last search stopped, so a long one costs one pass.
            var lineStart = start + lineAt;
            var searchFrom = start + Math.Max(lineAt, searchedTo);
            var found = buffer.AsSpan(searchFrom, end - searchFrom).IndexOfAny((byte)'\r', (byte)'\n');
            if (found < 0)
            {
                searchedTo = end - start;
                return false;
            }

            var lineEnd = searchFrom + found;
            var nextLine = AfterLineEnd(lineEnd, out var openCr);
            if (openCr && lineEnd > lineStart)
            {
                // Whether an LF follows this line's CR shows with the next read: the line is read then.
                searchedTo = lineEnd - start;
                return false;
            }

            if (lineEnd == lineStart)
            {
                // A blank line ends the event; one without data dispatches nothing and is consumed all the same.
                var eventStart = start;
                var lines = dataLines;
                var type = typeLength > 0 ? buffer.AsMemory(eventStart + typeAt, typeLength) : DefaultType;
                start = nextLine;
                skipLineFeed = openCr;
                lineAt = searchedTo = dataLines = typeLength = 0;
                if (lines > 0)
                {
                    var data = lines == 1 ? buffer.AsMemory(eventStart + valueAt, valueLength) : JoinedData(eventStart, lineEnd);
                    item = new SseEvent(type, data);
                    return true;
                }

                continue;
            }

            var line = buffer.AsSpan(lineStart, lineEnd - lineStart);
            if (FieldValueOffset(line, "data"u8) is var offset and >= 0)
            {
                dataLines++;
                valueAt = lineStart + offset - start;
                valueLength = line.Length - offset;
            }
            else if (FieldValueOffset(line, "event"u8) is var typeOffset and >= 0)
            {
                typeAt = lineStart + typeOffset - start;
                typeLength = line.Length - typeOffset;
            }

            lineAt = nextLine - start;
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = [];
    }

    /// <summary>Where the value of the field <paramref name="name"/> starts in <paramref name="line"/> (the name alone has an empty value; one space after the colon is not part of it); -1 for any other line.</summary>
    private static int FieldValueOffset(ReadOnlySpan<byte> line, ReadOnlySpan<byte> name)
    {
        if (!line.StartsWith(name))
        {
            return -1;
        }

        var colon = name.Length;
        if (line.Length == colon)
        {
            return colon;
        }

        if (line[colon] != (byte)':')
        {
            return -1;
        }

        return line.Length > colon + 1 && line[colon + 1] == (byte)' ' ? colon + 2 : colon + 1;
    }

    /// <summary>Skips a byte order mark at the stream's start and the LF of a CRLF split by a read; false until the mark can be told.</summary>
    private bool SkipPreamble()
    {
        if (!bomChecked)
        {
            var head = buffer.AsSpan(start, end - start);
            if (head.Length < Bom.Length && Bom.StartsWith(head) && !Ended)
            {
                return false;
            }

            bomChecked = true;
            if (head.StartsWith(Bom))
            {
                start += Bom.Length;
            }
        }

        if (skipLineFeed && start < end)
        {
            skipLineFeed = false;
            if (buffer[start] == (byte)'\n')
            {
                start++;
            }
        }

        return true;
    }

    /// <summary>Where the next line starts after the line end (CR or LF) at <paramref name="lineEnd"/>; <paramref name="openCr"/>: a CR that ends the bytes read, whose LF may come with the next read.</summary>
    private int AfterLineEnd(int lineEnd, out bool openCr)
    {
        openCr = false;
        if (buffer[lineEnd] == (byte)'\n')
        {
            return lineEnd + 1;
        }

        if (lineEnd + 1 < end)
        {
            return buffer[lineEnd + 1] == (byte)'\n' ? lineEnd + 2 : lineEnd + 1;
        }

        openCr = !Ended;
        return lineEnd + 1;
    }

    /// <summary>The data lines between <paramref name="from"/> and <paramref name="to"/> (a line start and a line end), joined with LF into a new array.</summary>
    private byte[] JoinedData(int from, int to)
    {
        var joined = new ArrayBufferWriter<byte>();
        var first = true;
        for (var position = from; position < to;)
        {
            var lineLength = buffer.AsSpan(position, to - position).IndexOfAny((byte)'\r', (byte)'\n');
            var line = buffer.AsSpan(position, lineLength);
            if (FieldValueOffset(line, "data"u8) is var offset and >= 0)
            {
                if (!first)
                {
                    joined.Write("\n"u8);
                }

                joined.Write(line[offset..]);
                first = false;
            }

            position = AfterLineEnd(position + lineLength, out _);
        }

        return joined.WrittenSpan.ToArray();
    }
}

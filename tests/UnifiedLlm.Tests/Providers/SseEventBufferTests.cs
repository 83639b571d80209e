using System.Net.ServerSentEvents;
using System.Text;
using CsCheck;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Tests.Providers;

/// <summary>
/// The relay's SSE framing, read in place from the bytes an upstream sent however its reads split them: the same data
/// as .NET's SseParser, each event as soon as its blank line is read, and a chunk marked as followed by more only when
/// the next one needs no read.
/// </summary>
public sealed class SseEventBufferTests
{
    private static readonly string[] LineEnds = ["\n", "\r\n", "\r"];

    private static readonly Gen<string> Value = Gen.String[Gen.Char["ab :{}\"é\\"], 0, 12];

    private static readonly Gen<Line> DataLine = Gen.Select(Value, Gen.Int[0, 2], Gen.Int[0, 2]).Select((value, form, end) =>
        new Line(DataText(value, form), value, end));

    private static readonly Gen<Line> OtherLine = Gen.Select(Gen.OneOf(": comment", ":", "event: delta", "id: 7", "retry: 10", "datax: not data", "event"), Gen.Int[0, 2])
        .Select((text, end) => new Line(text, null, end));

    private static readonly Gen<Event> AnyEvent = Gen.Select(Gen.Frequency((3, DataLine), (1, OtherLine)).List[0, 4], Gen.Int[0, 2])
        .Select((lines, blank) => new Event(lines, blank));

    private static readonly Gen<Script> Scripts = Gen.Select(Gen.Bool, AnyEvent.List[0, 8], Gen.Frequency((3, DataLine), (1, OtherLine)).List[0, 2], Gen.Int[1, 40].Array[1, 6])
        .Select((bom, events, trailing, pieces) => Script.Build(bom, events, trailing, pieces));

    [Fact]
    public void Every_split_of_a_stream_yields_the_data_SseParser_reads_each_event_once_its_blank_line_is_read()
    {
        Scripts.Sample(script =>
        {
            var parsed = SseParser.Create(new MemoryStream(script.Bytes)).Enumerate().Select(item => item.Data).ToList();
            Assert.Equal(script.Expected, parsed);

            using var events = new SseEventBuffer("upstream");
            var taken = new List<string>();
            var fed = 0;
            foreach (var piece in script.Pieces())
            {
                for (var copied = 0; copied < piece.Length;)
                {
                    var space = events.Space();
                    var count = Math.Min(space.Length, piece.Length - copied);
                    piece.AsSpan(copied, count).CopyTo(space.Span);
                    events.Received(count);
                    copied += count;
                    TakeAll(events, taken);
                }

                fed += piece.Length;
                Assert.Equal(script.DispatchedBy(fed), taken.Count);
            }

            events.Received(0);
            TakeAll(events, taken);
            Assert.Equal(script.Expected, taken);
        });
    }

    [Fact]
    public async Task A_chunk_marked_as_followed_by_more_is_followed_without_a_read()
    {
        await Scripts.SampleAsync(async script =>
        {
            var stream = new PieceStream(script.Pieces());
            var reads = -1;
            var data = new List<string>();
            await foreach (var chunk in SseChunks.ReadOpenAiAsync(stream, "upstream", TestContext.Current.CancellationToken))
            {
                Assert.True(reads == -1 || reads == stream.Reads, "a chunk marked as followed by more was followed only after another read");
                reads = chunk.MoreBuffered ? stream.Reads : -1;
                data.Add(Encoding.UTF8.GetString(chunk.Json.Span));
            }

            // No [DONE] in these scripts: every event's data comes through, and the stream's end ends the chunks.
            Assert.Equal(script.Expected, data);
        });
    }

    [Fact]
    public async Task The_events_of_one_read_are_marked_up_to_the_last_and_DONE_ends_the_chunks()
    {
        var stream = new PieceStream([Ascii("data: a\n\ndata: b\n\n"), Ascii("data: c\r\n\r\ndata: [DONE]\r\n\r\ndata: after\n\n")]);
        var chunks = new List<(string Data, bool Done, bool More, int Reads)>();
        await foreach (var chunk in SseChunks.ReadOpenAiAsync(stream, "upstream", TestContext.Current.CancellationToken))
        {
            chunks.Add((Encoding.UTF8.GetString(chunk.Json.Span), chunk.Done, chunk.MoreBuffered, stream.Reads));
        }

        List<(string Data, bool Done, bool More, int Reads)> expected = [("a", false, true, 1), ("b", false, false, 1), ("c", false, true, 2), ("", true, false, 2)];
        Assert.Equal(expected, chunks);
    }

    [Fact]
    public void An_event_larger_than_the_first_buffer_grows_it_and_data_lines_are_joined_with_LF()
    {
        var big = new string('x', 100_000);
        using var events = new SseEventBuffer("upstream");
        var taken = new List<string>();
        foreach (var piece in new[] { $"data: {big}\ndata:", " second\r\n", "\r", "\ndata: next\n", "\n" })
        {
            var bytes = Ascii(piece);
            for (var copied = 0; copied < bytes.Length;)
            {
                var space = events.Space();
                var count = Math.Min(space.Length, bytes.Length - copied);
                bytes.AsSpan(copied, count).CopyTo(space.Span);
                events.Received(count);
                copied += count;
                TakeAll(events, taken);
            }
        }

        Assert.Equal([big + "\nsecond", "next"], taken);
    }

    [Fact]
    public void An_event_that_never_ends_is_cut_off_at_the_limit_with_the_upstream_named()
    {
        using var events = new SseEventBuffer("tiny (local)", maxEventBytes: 64 * 1024);
        var line = new byte[4096];
        line.AsSpan().Fill((byte)'x');
        void FeedForever()
        {
            while (true)
            {
                var space = events.Space();
                var count = Math.Min(space.Length, line.Length);
                line.AsSpan(0, count).CopyTo(space.Span);
                events.Received(count);
                Assert.False(events.TryTake(out _));
            }
        }

        var failure = Assert.Throws<UpstreamFailure>(FeedForever);

        Assert.Equal(502, failure.StatusCode);
        Assert.Equal("tiny (local): malformed stream: an event longer than 64 KiB", failure.Message);
    }

    private static void TakeAll(SseEventBuffer events, List<string> taken)
    {
        while (events.TryTake(out var data))
        {
            taken.Add(Encoding.UTF8.GetString(data.Span));
        }
    }

    private static byte[] Ascii(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A data line for <paramref name="value"/> in one of its forms: "data" alone (empty), "data:" with or without the optional space.</summary>
    private static string DataText(string value, int form) => form switch
    {
        0 when value.Length == 0 => "data",
        1 when !value.StartsWith(' ') => "data:" + value,
        _ => "data: " + value,
    };

    /// <summary>A generated line: a data field (with its value) or another field or a comment; <paramref name="End"/> picks its line end.</summary>
    private sealed record Line(string Text, string? Data, int End);

    private sealed record Event(List<Line> Lines, int BlankEnd);

    /// <summary>A stream's bytes, the data each event carries, where each is dispatched, and how reads split the bytes.</summary>
    private sealed record Script(byte[] Bytes, List<string> Expected, List<int> Dispatches, int[] PieceSizes)
    {
        public static Script Build(bool bom, List<Event> events, List<Line> trailing, int[] pieceSizes)
        {
            var text = new StringBuilder(bom ? "\uFEFF" : "");
            var expected = new List<string>();
            var dispatches = new List<int>();
            var previousEnd = "";
            void Write(Line line)
            {
                previousEnd = LineEnds[line.End];
                text.Append(line.Text).Append(previousEnd);
            }

            foreach (var e in events)
            {
                e.Lines.ForEach(Write);

                // An LF after a CR would be the CR's CRLF, not a blank line.
                var blank = previousEnd == "\r" && e.BlankEnd == 0 ? "\r\n" : LineEnds[e.BlankEnd];
                var data = e.Lines.Where(l => l.Data is not null).Select(l => l.Data!).ToList();
                if (data.Count > 0)
                {
                    expected.Add(string.Join('\n', data));
                    dispatches.Add(Encoding.UTF8.GetByteCount(text.ToString()) + 1);
                }

                text.Append(blank);
                previousEnd = blank;
            }

            trailing.ForEach(Write);
            return new Script(Encoding.UTF8.GetBytes(text.ToString()), expected, dispatches, pieceSizes);
        }

        /// <summary>How many events are complete once the first <paramref name="bytes"/> have been read.</summary>
        public int DispatchedBy(int bytes) => Dispatches.Count(d => d <= bytes);

        /// <summary>The bytes as reads bring them, the piece sizes taken in turn.</summary>
        public List<byte[]> Pieces()
        {
            var pieces = new List<byte[]>();
            for (var (offset, i) = (0, 0); offset < Bytes.Length; i++)
            {
                var size = Math.Min(PieceSizes[i % PieceSizes.Length], Bytes.Length - offset);
                pieces.Add(Bytes[offset..(offset + size)]);
                offset += size;
            }

            return pieces;
        }
    }

    /// <summary>A read-only stream that hands out one piece per read (less when the buffer is smaller), counting reads.</summary>
    private sealed class PieceStream(List<byte[]> pieces) : Stream
    {
        private int piece;
        private int offset;

        public int Reads { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            Reads++;
            if (piece == pieces.Count)
            {
                return 0;
            }

            var count = Math.Min(buffer.Length, pieces[piece].Length - offset);
            pieces[piece].AsSpan(offset, count).CopyTo(buffer);
            offset += count;
            if (offset == pieces[piece].Length)
            {
                (piece, offset) = (piece + 1, 0);
            }

            return count;
        }

        public override void Flush() => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

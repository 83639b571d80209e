using System.Net.ServerSentEvents;
using System.Text;
using CsCheck;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Tests.Providers;

/// <summary>
/// The SSE framing of both wire formats, read in place from the bytes an upstream sent however its reads split them: the
/// events that a reading of the spec written here expects (their data as .NET's SseParser reads it too), each as soon as
/// its blank line is read, and a chunk marked as followed by more only when the next one needs no read.
/// </summary>
public sealed class SseEventBufferTests
{
    private static readonly string[] LineEnds = ["\n", "\r\n", "\r"];

    private static readonly Gen<string> Value = Gen.String[Gen.Char["ab :{}\"é\\"], 0, 12];

    /// <summary>Anthropic's event types, the spec's default named outright, the empty name (which means the default) and made-up names.</summary>
    private static readonly Gen<string> TypeValue = Gen.OneOf(
        Gen.OneOf("message_start", "content_block_delta", "message_stop", "ping", "error", "message", ""),
        Gen.String[Gen.Char["ab_: é"], 0, 8]);

    private static readonly Gen<Line> DataLine = Gen.Select(Value, Gen.Int[0, 2], Gen.Int[0, 2]).Select((value, form, end) =>
        new Line(FieldText("data", value, form), value, null, end));

    private static readonly Gen<Line> TypeLine = Gen.Select(TypeValue, Gen.Int[0, 2], Gen.Int[0, 2]).Select((value, form, end) =>
        new Line(FieldText("event", value, form), null, value, end));

    /// <summary>Comments, the fields read past, and lines that look like a data or event field but name another.</summary>
    private static readonly Gen<Line> OtherLine = Gen.Select(
            Gen.OneOf(": comment", ":", ": event: x", "id: 7", "retry: 10", "datax: not data", "data : not data", "eventx: not a type", "event : not a type", "Event: not a type"),
            Gen.Int[0, 2])
        .Select((text, end) => new Line(text, null, null, end));

    private static readonly Gen<Line> AnyLine = Gen.Frequency((3, DataLine), (2, TypeLine), (1, OtherLine));

    private static readonly Gen<Event> AnyEvent = Gen.Select(AnyLine.List[0, 4], Gen.Int[0, 2])
        .Select((lines, blank) => new Event(lines, blank));

    private static readonly Gen<Script> Scripts = Gen.Select(Gen.Bool, AnyEvent.List[0, 8], AnyLine.List[0, 2], Gen.Int[1, 40].Array[1, 6])
        .Select((bom, events, trailing, pieces) => Script.Build(bom, events, trailing, pieces));

    [Fact]
    public void Every_split_of_a_stream_yields_its_events_each_once_its_blank_line_is_read()
    {
        Scripts.Sample(script =>
        {
            // SseParser is an oracle for the data only: it keeps the type of an event without data for the next event, and
            // gives an empty type where the spec says "message".
            var parsed = SseParser.Create(new MemoryStream(script.Bytes)).Enumerate().Select(item => item.Data).ToList();
            Assert.Equal(script.Expected.Select(e => e.Data), parsed);

            ReadsAsScripted(script, script.Pieces());
        });
    }

    [Fact]
    public void A_stream_cut_in_two_at_any_byte_yields_its_events_each_once_its_blank_line_is_read()
    {
        Scripts.Sample(script =>
        {
            for (var cut = 0; cut <= script.Bytes.Length; cut++)
            {
                ReadsAsScripted(script, [script.Bytes[..cut], script.Bytes[cut..]]);
            }
        });
    }

    [Fact]
    public void The_last_event_line_names_an_event_and_none_or_an_empty_one_means_message()
    {
        var taken = TakeAll("event: a\nevent: b\ndata: 1\n\ndata: 2\n\nevent: a\nevent\ndata: 3\n\nevent: x\n\ndata: 4\r\n\r\nevent:y\rdata:5\r\revent:\n: event: z\ndata: 6\n\n");

        Assert.Equal([("b", "1"), ("message", "2"), ("message", "3"), ("message", "4"), ("y", "5"), ("message", "6")], taken);
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
            Assert.Equal(script.Expected.Select(e => e.Data), data);
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
        var taken = new List<(string, string)>();
        foreach (var piece in new[] { $"event: big\ndata: {big}\ndata:", " second\r\n", "\r", "\ndata: next\n", "\n" })
        {
            Feed(events, Ascii(piece), taken);
        }

        Assert.Equal([("big", big + "\nsecond"), ("message", "next")], taken);
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

    /// <summary>Reads <paramref name="pieces"/> as an upstream's reads would bring them, checking that each event comes as soon as its blank line is read.</summary>
    private static void ReadsAsScripted(Script script, List<byte[]> pieces)
    {
        using var events = new SseEventBuffer("upstream");
        var taken = new List<(string, string)>();
        var fed = 0;
        foreach (var piece in pieces)
        {
            Feed(events, piece, taken);
            fed += piece.Length;
            Assert.Equal(script.DispatchedBy(fed), taken.Count);
        }

        events.Received(0);
        TakeAll(events, taken);
        Assert.Equal(script.Expected, taken);
    }

    /// <summary>The events of a whole stream, read at once.</summary>
    private static List<(string, string)> TakeAll(string stream)
    {
        using var events = new SseEventBuffer("upstream");
        var taken = new List<(string, string)>();
        Feed(events, Ascii(stream), taken);
        events.Received(0);
        TakeAll(events, taken);
        return taken;
    }

    /// <summary>Copies <paramref name="bytes"/> into the buffer as far as its space allows at a time, taking the events complete after each copy.</summary>
    private static void Feed(SseEventBuffer events, byte[] bytes, List<(string, string)> taken)
    {
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

    private static void TakeAll(SseEventBuffer events, List<(string, string)> taken)
    {
        while (events.TryTake(out var item))
        {
            taken.Add((Encoding.UTF8.GetString(item.Type.Span), Encoding.UTF8.GetString(item.Data.Span)));
        }
    }

    private static byte[] Ascii(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A line of field <paramref name="name"/> for <paramref name="value"/> in one of its forms: the name alone (empty), the name and a colon with or without the optional space.</summary>
    private static string FieldText(string name, string value, int form) => form switch
    {
        0 when value.Length == 0 => name,
        1 when !value.StartsWith(' ') => name + ":" + value,
        _ => name + ": " + value,
    };

    /// <summary>A generated line: a data field (with its value), an event field (with the type it names), or another field or a comment; <paramref name="End"/> picks its line end.</summary>
    private sealed record Line(string Text, string? Data, string? Type, int End);

    private sealed record Event(List<Line> Lines, int BlankEnd);

    /// <summary>
    /// A stream's bytes, the events it carries as the spec reads them (the data lines joined with LF, under the type the
    /// last event line names, "message" where none or the empty one does; no event without data), where each is
    /// dispatched, and how reads split the bytes.
    /// </summary>
    private sealed record Script(byte[] Bytes, List<(string Type, string Data)> Expected, List<int> Dispatches, int[] PieceSizes)
    {
        public static Script Build(bool bom, List<Event> events, List<Line> trailing, int[] pieceSizes)
        {
            var text = new StringBuilder(bom ? "\uFEFF" : "");
            var expected = new List<(string, string)>();
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
                var type = e.Lines.LastOrDefault(l => l.Type is not null)?.Type;
                if (data.Count > 0)
                {
                    expected.Add((string.IsNullOrEmpty(type) ? "message" : type, string.Join('\n', data)));
                    dispatches.Add(Encoding.UTF8.GetByteCount(text.ToString()) + 1);
                }

                text.Append(blank);
                previousEnd = blank;
            }

            trailing.ForEach(Write);
            return new Script(Encoding.UTF8.GetBytes(text.ToString()), expected, dispatches, pieceSizes);
        }

        /// <summary>What CsCheck shows of a failing script: the stream as text with its line ends spelled out, and the read sizes.</summary>
        public override string ToString() =>
            $"{Encoding.UTF8.GetString(Bytes).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)} read in pieces of [{string.Join(", ", PieceSizes)}]";

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
}

using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Tests.Providers;

/// <summary>
/// Anthropic's stream read by the framer that reads OpenAI's: the same chunks however the upstream's reads split it, and
/// failures that name the upstream and the event type.
/// </summary>
public sealed class AnthropicStreamTranslatorTests
{
    private const string Upstream = "claude/claude-x";

    private const long Created = 1_700_000_000;

    /// <summary>
    /// A message with text and a tool call as Anthropic streams it, with what else SSE allows: CRLF and CR line ends, a
    /// comment, an id, data over two lines, a ping, a type Anthropic may add, and an event after message_stop.
    /// </summary>
    private static readonly byte[] Message = Encoding.UTF8.GetBytes(string.Concat(
        Event("message_start", """{"type":"message_start","message":{"id":"msg_2","model":"claude-x","usage":{"input_tokens":12,"cache_read_input_tokens":3,"output_tokens":1}}}""", "\r\n"),
        ": keep-alive\n\n",
        Event("ping", """{"type":"ping"}"""),
        Event("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""", "\r"),
        "id: 4\n",
        Event("content_block_delta", """{"type":"content_block_delta","index":0,""" + "\ndata: \"delta\":{\"type\":\"text_delta\",\"text\":\"Hi é\"}}"),
        Event("content_block_stop", """{"type":"content_block_stop","index":0}"""),
        Event("future_event", """{"type":"future_event"}"""),
        Event("content_block_start", """{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"f","input":{}}}""", "\r\n"),
        Event("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"""),
        Event("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}""", "\r"),
        Event("content_block_stop", """{"type":"content_block_stop","index":1}"""),
        Event("message_delta", """{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"""),
        Event("message_stop", """{"type":"message_stop"}"""),
        Event("content_block_delta", "not read: message_stop ended the stream")));

    [Fact]
    public async Task Events_become_openai_chunks_with_our_tool_index_and_usage_and_message_stop_ends_them()
    {
        var chunks = await TranslateAsync(new MemoryStream(Message));

        Assert.Equal(8, chunks.Count);
        var json = chunks.SkipLast(1).Select(c => JsonDocument.Parse(c.Json).RootElement).ToList();
        Assert.All(json[..6], c => Assert.Equal(("msg_2", "claude-x", Created), (c.GetProperty("id").GetString(), c.GetProperty("model").GetString(), c.GetProperty("created").GetInt64())));
        var deltas = json[..6].Select(c => c.GetProperty("choices")[0].GetProperty("delta")).ToList();
        Assert.Equal("assistant", deltas[0].GetProperty("role").GetString());
        Assert.Equal("Hi é", deltas[1].GetProperty("content").GetString());
        var toolStart = deltas[2].GetProperty("tool_calls")[0];
        Assert.Equal((0, "toolu_9", "f"), (toolStart.GetProperty("index").GetInt32(), toolStart.GetProperty("id").GetString(), toolStart.GetProperty("function").GetProperty("name").GetString()));
        Assert.Equal("""{"a":1}""", string.Concat(deltas[3..5].Select(d => d.GetProperty("tool_calls")[0].GetProperty("function").GetProperty("arguments").GetString())));
        Assert.Equal("tool_calls", json[5].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usage = json[6].GetProperty("usage");
        Assert.Equal((15, 9, 3), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32()));
        Assert.Equal(("", true), chunks[^1]);
    }

    [Fact]
    public async Task The_chunks_are_the_same_whether_the_stream_comes_whole_cut_in_two_at_any_byte_or_a_byte_a_read()
    {
        var whole = await TranslateAsync(new MemoryStream(Message));

        // A read brings at least a byte until the stream ends: the cut is inside the stream.
        for (var cut = 1; cut < Message.Length; cut++)
        {
            Assert.Equal(whole, await TranslateAsync(new PieceStream([Message[..cut], Message[cut..]])));
        }

        Assert.Equal(whole, await TranslateAsync(new PieceStream([.. Message.Select(b => new[] { b })])));
    }

    [Theory]
    [InlineData("event: content_block_delta\ndata: {\"type\":\n\n", "event 'content_block_delta' is not JSON (")]
    [InlineData("event: future_event\r\ndata: {\r\n\r\n", "event 'future_event' is not JSON (")]
    [InlineData("data: nope\n\n", "event 'message' is not JSON (")]
    [InlineData("event: message_start\ndata: {\"type\":\"message_start\"}\n\n", "event 'message_start' is not what Anthropic's format says (")]
    [InlineData("event: content_block_delta\ndata: {\"delta\":{\"type\":\"text_delta\",\"text\":7}}\n\n", "event 'content_block_delta' is not what Anthropic's format says (")]
    public async Task An_event_that_is_not_json_or_not_shaped_as_its_type_says_fails_naming_the_upstream_and_the_type(string stream, string problem)
    {
        var failure = await Assert.ThrowsAsync<UpstreamFailure>(() => TranslateAsync(new MemoryStream(Encoding.UTF8.GetBytes(stream))));

        Assert.Equal(502, failure.StatusCode);
        Assert.StartsWith($"{Upstream}: malformed stream: {problem}", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_event_that_never_ends_is_refused_at_the_limit_naming_the_upstream()
    {
        var failure = await Assert.ThrowsAsync<UpstreamFailure>(() => TranslateAsync(new EndlessEventStream()));

        Assert.Equal(502, failure.StatusCode);
        Assert.Equal($"{Upstream}: malformed stream: an event longer than {SseEventBuffer.MaxEventBytes / 1024} KiB", failure.Message);
    }

    private static string Event(string type, string data, string lineEnd = "\n") => $"event: {type}{lineEnd}data: {data}{lineEnd}{lineEnd}";

    private static async Task<List<(string Json, bool Done)>> TranslateAsync(Stream stream)
    {
        var chunks = new List<(string, bool)>();
        await foreach (var chunk in AnthropicStreamTranslator.TranslateAsync(stream, Upstream, Created, TestContext.Current.CancellationToken))
        {
            chunks.Add((Encoding.UTF8.GetString(chunk.Json.Span), chunk.Done));
        }

        return chunks;
    }

    /// <summary>"data: " and then data without end, as fast as it is read.</summary>
    private sealed class EndlessEventStream : ReadOnlyTestStream
    {
        private bool started;

        public override int Read(Span<byte> buffer)
        {
            if (!started)
            {
                started = true;
                "data: "u8.CopyTo(buffer);
                return 6;
            }

            buffer.Fill((byte)'x');
            return buffer.Length;
        }
    }
}

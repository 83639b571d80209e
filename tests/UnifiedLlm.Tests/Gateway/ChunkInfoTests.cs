using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>What the gateway reads from each upstream body and stream chunk: content, finish, usage and errors.</summary>
public sealed class ChunkInfoTests
{
    [Fact]
    public void A_role_only_first_chunk_has_no_content()
    {
        var info = Inspect("""{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""");

        Assert.Equal(new ChunkInfo(false, false, false, null, null, 0, null), info);
    }

    [Fact]
    public void Delta_text_is_counted_in_utf16_chars_escaped_or_not()
    {
        Assert.Equal(5, Inspect("""{"choices":[{"delta":{"content":"héllo"}}]}""").ContentChars);
        Assert.Equal(2, Inspect("""{"choices":[{"delta":{"content":"🙂"}}]}""").ContentChars);
        Assert.Equal(5, Inspect("""{"choices":[{"delta":{"content":"a\n\u00e9🙂"}}]}""").ContentChars);
        Assert.Equal(3, Inspect("""{"choices":[{"delta":{"reasoning_content":"hmm"}}]}""").ContentChars);
        Assert.True(Inspect("""{"choices":[{"delta":{"content":"x"}}]}""").HasContent);
    }

    [Fact]
    public void The_delta_wins_over_the_message_and_the_message_over_the_choice_itself()
    {
        Assert.Equal(2, Inspect("""{"choices":[{"text":"ignored","delta":{"content":"ab"},"message":{"content":"abc"}}]}""").ContentChars);
        Assert.Equal(3, Inspect("""{"choices":[{"text":"ignored","message":{"content":"abc"}}]}""").ContentChars);
        Assert.Equal(7, Inspect("""{"object":"text_completion","choices":[{"text":"legacy!","finish_reason":"length"}]}""").ContentChars);
    }

    [Fact]
    public void Choices_add_up_and_a_finish_reason_marks_the_end()
    {
        var info = Inspect("""{"choices":[{"message":{"content":"ab"},"finish_reason":"stop"},{"message":{"content":"cde"},"finish_reason":null}]}""");

        Assert.Equal(5, info.ContentChars);
        Assert.True(info.Finished);
        Assert.False(Inspect("""{"choices":[{"delta":{},"finish_reason":null}]}""").Finished);
    }

    [Fact]
    public void Tool_calls_are_content_only_when_there_are_some()
    {
        Assert.True(Inspect("""{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":[1,{}]}"}}]}}]}""").HasContent);
        Assert.False(Inspect("""{"choices":[{"delta":{"tool_calls":[]}}]}""").HasContent);
        Assert.False(Inspect("""{"choices":[{"delta":{"tool_calls":null}}]}""").HasContent);
    }

    [Fact]
    public void A_null_or_odd_delta_counts_nothing_and_does_not_fail()
    {
        Assert.Equal(0, Inspect("""{"choices":[{"delta":null}]}""").ContentChars);
        Assert.Equal(0, Inspect("""{"choices":[{"delta":"text?","message":[1]}]}""").ContentChars);
        Assert.Equal(0, Inspect("""{"choices":[1, null, "x"]}""").ContentChars);
    }

    [Fact]
    public void Usage_gives_tokens_and_a_usage_only_chunk_is_marked()
    {
        var final = Inspect("""{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46,"prompt_tokens_details":{"cached_tokens":0}}}""");
        var withChoices = Inspect("""{"choices":[{"message":{"content":"hi"}}],"usage":{"completion_tokens":2,"prompt_tokens":9}}""");
        var noCompletion = Inspect("""{"usage":{"prompt_tokens":3}}""");

        Assert.Equal(new ChunkInfo(false, false, true, 12, 34, 0, null), final);
        Assert.Equal(new ChunkInfo(true, false, false, 9, 2, 2, null), withChoices);
        Assert.Equal((3L, 0L), (noCompletion.PromptTokens, noCompletion.CompletionTokens));
        Assert.Equal(((long?)null, (long?)null), (Inspect("""{"choices":[],"usage":null}""").PromptTokens, Inspect("""{"choices":[]}""").CompletionTokens));
    }

    [Fact]
    public void Embeddings_data_is_content()
    {
        Assert.True(Inspect("""{"object":"list","data":[{"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":2,"total_tokens":2}}""").HasContent);
    }

    [Fact]
    public void Errors_give_their_message_whatever_their_shape()
    {
        Assert.Equal("overloaded \"now\"", Inspect("""{"error":{"type":"server_error","message":"overloaded \"now\""}}""").Error);
        Assert.Equal("plain", Inspect("""{"choices":[{"delta":{"content":"x"}}],"error":"plain"}""").Error);
        Assert.Equal("""{"code": 7}""", Inspect("""{"error":{"code": 7}}""").Error);
        Assert.Equal("42", Inspect("""{"error":{"message":42}}""").Error);
        Assert.Equal("[1,2]", Inspect("""{"error":[1,2]}""").Error);
        Assert.False(Inspect("""{"error":{"message":"x"}}""").HasContent);
    }

    [Fact]
    public void A_null_error_is_no_error()
    {
        var info = Inspect("""{"choices":[{"delta":{"content":"ok"}}],"error":null}""");

        Assert.Null(info.Error);
        Assert.Equal(2, info.ContentChars);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    [InlineData("{\"choices\":[{\"delta\":{\"content\":\"x\"}}]")]
    [InlineData("{\"choices\":[}")]
    [InlineData("{\"a\":1} {\"b\":2}")]
    [InlineData("{\"a\":1} x")]
    [InlineData("")]
    public void Malformed_or_non_object_json_throws(string json)
    {
        Assert.ThrowsAny<JsonException>(() => Inspect(json));
    }

    [Fact]
    public void Whitespace_around_the_object_is_fine()
    {
        Assert.Equal(1, Inspect(" \n{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n ").ContentChars);
    }

    private static ChunkInfo Inspect(string json) => ChunkInfo.Inspect(Encoding.UTF8.GetBytes(json));
}

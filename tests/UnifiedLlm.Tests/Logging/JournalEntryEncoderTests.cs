using System.Buffers;
using UnifiedLlm.Daemon.Logging;

namespace UnifiedLlm.Tests.Logging;

public sealed class JournalEntryEncoderTests
{
    private readonly ArrayBufferWriter<byte> _output = new();

    [Fact]
    public void Values_without_newlines_use_the_key_equals_value_form()
    {
        var entry = new JournalEntryEncoder(_output);
        entry.AddField("MESSAGE", "hello = world");
        entry.AddField("PRIORITY", "6");
        entry.AddField("EMPTY", "");

        Assert.Equal("MESSAGE=hello = world\nPRIORITY=6\nEMPTY=\n"u8.ToArray(), _output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Values_with_newlines_use_the_length_prefixed_binary_form()
    {
        new JournalEntryEncoder(_output).AddField("MESSAGE", "a\nb");

        byte[] expected = [.. "MESSAGE\n"u8, 3, 0, 0, 0, 0, 0, 0, 0, .. "a\nb\n"u8];
        Assert.Equal(expected, _output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Text_is_encoded_as_utf8_and_the_binary_length_counts_bytes()
    {
        new JournalEntryEncoder(_output).AddField("MESSAGE", "é\n€");

        byte[] expected = [.. "MESSAGE\n"u8, 6, 0, 0, 0, 0, 0, 0, 0, 0xC3, 0xA9, (byte)'\n', 0xE2, 0x82, 0xAC, (byte)'\n'];
        Assert.Equal(expected, _output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Byte_values_are_copied_raw()
    {
        var entry = new JournalEntryEncoder(_output);
        entry.AddField("BLOB", [0, 1, 0xFF]);
        entry.AddField("LINES", [(byte)'x', (byte)'\n', 0]);

        byte[] expected = [.. "BLOB="u8, 0, 1, 0xFF, (byte)'\n', .. "LINES\n"u8, 3, 0, 0, 0, 0, 0, 0, 0, (byte)'x', (byte)'\n', 0, (byte)'\n'];
        Assert.Equal(expected, _output.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_large_multi_line_value_round_trips_through_the_decoder()
    {
        var value = string.Join('\n', Enumerable.Range(0, 20_000).Select(i => $"line {i}"));
        var entry = new JournalEntryEncoder(_output);
        entry.AddField("MESSAGE", value);
        entry.AddField("AFTER", "x");

        var decoded = JournalEntryDecoder.Decode(_output.WrittenSpan);
        Assert.Equal(["MESSAGE", "AFTER"], decoded.Names);
        Assert.Equal(value, decoded.Text("MESSAGE"));
        Assert.Equal("x", decoded.Text("AFTER"));
    }

    [Theory]
    [InlineData("message")]
    [InlineData("_PID")]
    [InlineData("")]
    public void Invalid_field_names_are_refused_with_the_name(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => new JournalEntryEncoder(_output).AddField(name, "x"));
        Assert.Contains($"'{name}'", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _output.WrittenCount);
    }
}

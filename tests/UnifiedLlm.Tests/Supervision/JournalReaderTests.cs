using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Tests.Supervision;

/// <summary>journalctl's JSON lines and arguments; reading a real journal is covered by the systemd supervisor tests.</summary>
public sealed class JournalReaderTests
{
    [Fact]
    public void A_text_message_keeps_its_time_and_priority()
    {
        var line = JournalReader.Parse("u.service", """{"MESSAGE":"loaded model\n","__REALTIME_TIMESTAMP":"1764000000123456","PRIORITY":"3"}""");

        Assert.NotNull(line);
        Assert.Equal(("u.service", "loaded model", 3), (line.UnitName, line.Message, line.Priority));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1764000000123).AddTicks(4560), line.Timestamp);
    }

    [Fact]
    public void A_binary_message_arrives_as_bytes_and_is_decoded()
    {
        var line = JournalReader.Parse("u.service", """{"MESSAGE":[104,105,27,91,48,109],"PRIORITY":"6"}""");

        Assert.Equal("hi\u001b[0m", line?.Message);
    }

    [Fact]
    public void An_entry_without_a_message_is_skipped()
    {
        Assert.Null(JournalReader.Parse("u.service", """{"__CURSOR":"s=1"}"""));
    }

    [Fact]
    public void Following_new_lines_starts_at_the_time_of_the_call_not_at_the_tail()
    {
        var reader = new JournalReader(journalDirectory: "/j");
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1764000000250);

        Assert.Equal(
            ["--no-pager", "--output=json", "--directory=/j", "--since=@1764000000.250", "--follow", "_SYSTEMD_UNIT=u.service"],
            reader.Arguments("u.service", 0, follow: true, now));
        Assert.Equal(["--no-pager", "--output=json", "--directory=/j", "--lines=20", "_SYSTEMD_UNIT=u.service"], reader.Arguments("u.service", 20, follow: false, now));
    }
}

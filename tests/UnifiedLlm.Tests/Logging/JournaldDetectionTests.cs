using System.Diagnostics;
using UnifiedLlm.Daemon.Logging;

namespace UnifiedLlm.Tests.Logging;

public sealed class JournaldDetectionTests
{
    [Theory]
    [InlineData("8:12345", 8UL, 12345UL)]
    [InlineData("0:0", 0UL, 0UL)]
    [InlineData("18446744073709551615:1", ulong.MaxValue, 1UL)]
    public void Journal_stream_values_parse(string value, ulong device, ulong inode)
    {
        Assert.True(JournaldDetection.TryParseJournalStream(value, out var parsedDevice, out var parsedInode));
        Assert.Equal((device, inode), (parsedDevice, parsedInode));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("8")]
    [InlineData(":5")]
    [InlineData("8:")]
    [InlineData("a:b")]
    [InlineData("-1:2")]
    [InlineData("8:12 ")]
    [InlineData("8:1:2")]
    public void Malformed_journal_stream_values_do_not_parse(string? value) =>
        Assert.False(JournaldDetection.TryParseJournalStream(value, out _, out _));

    [Fact]
    public async Task Stderr_matches_only_its_own_device_and_inode()
    {
        // coreutils stat follows /proc/PID/fd/2 to whatever stderr is (pipe, tty, file) and prints st_dev:st_ino,
        // which is exactly how systemd writes JOURNAL_STREAM.
        var start = new ProcessStartInfo("stat", ["-L", "-c", "%d:%i", $"/proc/{Environment.ProcessId}/fd/2"]) { RedirectStandardOutput = true };
        using var stat = Process.Start(start)!;
        var output = (await stat.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken)).Trim();
        await stat.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(0, stat.ExitCode);
        Assert.True(JournaldDetection.TryParseJournalStream(output, out var device, out var inode), $"stat printed '{output}'");

        Assert.True(JournaldDetection.StderrIsJournalStream($"{device}:{inode}"));
        Assert.False(JournaldDetection.StderrIsJournalStream($"{device}:{inode + 1}"));
        Assert.False(JournaldDetection.StderrIsJournalStream($"{device + 1}:{inode}"));
        Assert.False(JournaldDetection.StderrIsJournalStream(null));
    }

    [Fact]
    public void An_explicit_setting_wins_and_auto_needs_the_socket()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"ullm-no-journal-{Guid.NewGuid():N}");

        Assert.True(JournaldDetection.ShouldLogToJournal(configured: true, missing));
        Assert.False(JournaldDetection.ShouldLogToJournal(configured: false, JournaldDetection.DefaultSocketPath));
        Assert.False(JournaldDetection.ShouldLogToJournal(configured: null, missing));
    }

    [Fact]
    public void A_bound_socket_counts_as_existing()
    {
        using var receiver = new UnixDatagramReceiver();

        Assert.True(JournaldDetection.SocketExists(receiver.SocketPath));
        Assert.False(JournaldDetection.SocketExists(receiver.SocketPath + ".missing"));
    }
}

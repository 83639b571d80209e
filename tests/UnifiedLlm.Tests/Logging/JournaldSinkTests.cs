using System.Net.Sockets;
using System.Text;
using Serilog;
using Serilog.Core;
using Serilog.Debugging;
using Serilog.Events;
using UnifiedLlm.Daemon.Logging;
using static UnifiedLlm.Daemon.Logging.JournalNative;

namespace UnifiedLlm.Tests.Logging;

/// <summary>The sink against a real AF_UNIX datagram socket standing in for journald's.</summary>
public sealed class JournaldSinkTests : IDisposable
{
    private readonly UnixDatagramReceiver _receiver = new();
    private readonly JournaldSink _sink;
    private readonly Logger _logger;

    public JournaldSinkTests()
    {
        _sink = new JournaldSink(new JournaldSinkOptions { SocketPath = _receiver.SocketPath, SyslogIdentifier = "ullmd-test" });
        _logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(_sink).CreateLogger();
    }

    public void Dispose()
    {
        _logger.Dispose();
        _sink.Dispose();
        _receiver.Dispose();
    }

    [Fact]
    public void A_simple_event_is_one_datagram_with_exactly_these_bytes()
    {
        _logger.Information("hello world");

        var datagram = _receiver.Receive();
        Assert.Null(datagram.MemfdContent);
        Assert.Equal("MESSAGE=hello world\nPRIORITY=6\nSYSLOG_IDENTIFIER=ullmd-test\n"u8.ToArray(), datagram.Payload);
        Assert.Equal(1, _sink.Count(JournalSendOutcome.Sent));
    }

    [Fact]
    public void A_multi_line_message_with_an_exception_is_sent_binary_safe()
    {
        var exception = Thrown(new InvalidOperationException("backend died\nwith a second line"));
        _logger.Error(exception, "line one\nline two {Model}", "qwen");

        var payload = _receiver.Receive().Payload;
        var message = $"line one\nline two \"qwen\"\n{exception}";
        var messageBytes = Encoding.UTF8.GetBytes(message);
        byte[] expectedStart = [.. "MESSAGE\n"u8, .. BitConverter.GetBytes((ulong)messageBytes.Length), .. messageBytes, (byte)'\n', .. "PRIORITY=3\n"u8];
        Assert.Equal(expectedStart, payload.AsSpan(0, expectedStart.Length).ToArray());

        var entry = JournalEntryDecoder.Decode(payload);
        Assert.Equal(message, entry.Text("MESSAGE"));
        Assert.Contains(nameof(Thrown), entry.Text("MESSAGE"), StringComparison.Ordinal);
        Assert.Equal("qwen", entry.Text("ULLM_MODEL"));
    }

    [Theory]
    [InlineData(LogEventLevel.Verbose, "7")]
    [InlineData(LogEventLevel.Debug, "7")]
    [InlineData(LogEventLevel.Information, "6")]
    [InlineData(LogEventLevel.Warning, "4")]
    [InlineData(LogEventLevel.Error, "3")]
    [InlineData(LogEventLevel.Fatal, "2")]
    public void Levels_map_to_syslog_priorities(LogEventLevel level, string priority)
    {
        _logger.Write(level, "at {Level}", level);

        Assert.Equal(priority, _receiver.Receive().Entry.Text("PRIORITY"));
    }

    [Fact]
    public void Well_known_properties_become_code_and_ullm_fields()
    {
        _logger.ForContext<JournaldSinkTests>()
            .ForContext("CodeFunc", "LoadAsync").ForContext("CodeFile", "Scheduler.cs").ForContext("CodeLine", 42)
            .Information("loading {Model} as {Unit} for {RequestId}", "qwen2.5-7b", "ullm-llama-1.service", "req-7");

        var entry = _receiver.Receive().Entry;
        Assert.Equal(
            ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FUNC", "CODE_FILE", "CODE_LINE", "ULLM_SOURCE", "ULLM_MODEL", "ULLM_UNIT", "ULLM_REQUEST_ID"],
            entry.Names);
        Assert.Equal("loading \"qwen2.5-7b\" as \"ullm-llama-1.service\" for \"req-7\"", entry.Text("MESSAGE"));
        Assert.Equal("LoadAsync", entry.Text("CODE_FUNC"));
        Assert.Equal("Scheduler.cs", entry.Text("CODE_FILE"));
        Assert.Equal("42", entry.Text("CODE_LINE"));
        Assert.Equal(typeof(JournaldSinkTests).FullName, entry.Text("ULLM_SOURCE"));
        Assert.Equal("qwen2.5-7b", entry.Text("ULLM_MODEL"));
        Assert.Equal("ullm-llama-1.service", entry.Text("ULLM_UNIT"));
        Assert.Equal("req-7", entry.Text("ULLM_REQUEST_ID"));
    }

    [Fact]
    public void Other_scalar_properties_become_ullm_fields_and_the_rest_is_skipped()
    {
        _logger.ForContext("Source", "would clash with ULLM_SOURCE").ForContext("Größe", "not ASCII").ForContext("_", "nothing left")
            .Information("{GpuIndex} {FreeBytes} {Ratio} {@Shape} {Names} {Nothing}", 1, 123456789L, 0.5, new { Width = 2 }, new List<string> { "a" }, null);

        var entry = _receiver.Receive().Entry;
        Assert.Equal(["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "ULLM_GPU_INDEX", "ULLM_FREE_BYTES", "ULLM_RATIO"], entry.Names);
        Assert.Equal("1", entry.Text("ULLM_GPU_INDEX"));
        Assert.Equal("123456789", entry.Text("ULLM_FREE_BYTES"));
        Assert.Equal("0.5", entry.Text("ULLM_RATIO"));
    }

    [Fact]
    public void Other_properties_are_bounded_in_number_and_length()
    {
        using var sink = new JournaldSink(new JournaldSinkOptions { SocketPath = _receiver.SocketPath, MaxOtherProperties = 2, MaxOtherPropertyLength = 5 });
        using var logger = new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger();

        logger.Information("{First} {Second} {Third} {Model}", "1234567890", "b", "c", "m");

        var entry = _receiver.Receive().Entry;
        Assert.Equal(["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "ULLM_MODEL", "ULLM_FIRST", "ULLM_SECOND"], entry.Names);
        Assert.Equal("12345", entry.Text("ULLM_FIRST"));
        Assert.Equal("ullmd", entry.Text("SYSLOG_IDENTIFIER"));
    }

    [Fact]
    public void Concurrent_emits_from_several_threads_each_arrive_whole()
    {
        const int threads = 4, waves = 50, perWave = 2;
        var cancellation = TestContext.Current.CancellationToken;
        using var start = new Barrier(threads + 1);
        using var done = new Barrier(threads + 1);
        var emitters = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            for (var wave = 0; wave < waves; wave++)
            {
                start.SignalAndWait(cancellation);
                for (var i = 0; i < perWave; i++)
                {
                    _logger.Information("thread {Thread} event {Event}\nsecond line {Padding}", t, wave * perWave + i, new string((char)('a' + t), 100 * t));
                }

                done.SignalAndWait(cancellation);
            }
        })).ToList();
        emitters.ForEach(e => e.Start());

        // Waves of threads*perWave datagrams stay below the smallest receive queue (net.unix.max_dgram_qlen = 10),
        // so nothing may be dropped; every entry must decode whole, with fields that belong together.
        var seen = new HashSet<(string, string)>();
        for (var wave = 0; wave < waves; wave++)
        {
            start.SignalAndWait(cancellation);
            done.SignalAndWait(cancellation);
            for (var i = 0; i < threads * perWave; i++)
            {
                var entry = _receiver.Receive().Entry;
                var thread = entry.Text("ULLM_THREAD");
                var number = entry.Text("ULLM_EVENT");
                var padding = new string((char)('a' + int.Parse(thread)), 100 * int.Parse(thread));
                Assert.Equal($"thread {thread} event {number}\nsecond line \"{padding}\"", entry.Text("MESSAGE"));
                Assert.Equal(padding, entry.Text("ULLM_PADDING"));
                Assert.True(seen.Add((thread, number)), $"entry {thread}/{number} arrived twice");
            }
        }

        emitters.ForEach(e => e.Join());
        Assert.Equal(threads * waves * perWave, seen.Count);
        Assert.Equal(threads * waves * perWave, _sink.Count(JournalSendOutcome.Sent));
        Assert.False(_receiver.HasPending);
    }

    [Fact]
    public void An_entry_too_large_for_a_datagram_is_passed_as_a_sealed_memfd()
    {
        // Larger than net.core.wmem_max (4 MiB by default), so no send buffer can take it as a datagram.
        var message = string.Join('\n', Enumerable.Range(0, 400_000).Select(i => $"line {i:D8}"));
        Assert.True(message.Length > 5 * 1024 * 1024);

        _logger.Warning(message);

        var datagram = _receiver.Receive();
        Assert.Empty(datagram.Payload);
        Assert.NotNull(datagram.MemfdContent);
        Assert.Equal(FSealSeal | FSealShrink | FSealGrow | FSealWrite, datagram.MemfdSeals);
        var entry = datagram.Entry;
        Assert.Equal(message, entry.Text("MESSAGE"));
        Assert.Equal("4", entry.Text("PRIORITY"));
        Assert.Equal(1, _sink.Count(JournalSendOutcome.SentAsMemfd));
        Assert.Equal(0, _sink.Count(JournalSendOutcome.Sent));
    }

    [Fact]
    public void No_socket_at_the_path_drops_quietly_and_counts()
    {
        using var sink = new JournaldSink(new JournaldSinkOptions { SocketPath = Path.Combine(_receiver.TempDirectory, "missing") });
        using var logger = new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger();

        logger.Information("nobody listens");
        logger.Error(Thrown(new InvalidOperationException("x")), "still nobody");

        Assert.Equal(2, sink.Count(JournalSendOutcome.DroppedNoJournal));
        Assert.Equal(0, sink.Count(JournalSendOutcome.Sent) + sink.Count(JournalSendOutcome.Failed));
    }

    [Fact]
    public void A_stale_socket_file_with_no_listener_drops_quietly_and_counts()
    {
        // Socket.Dispose unlinks the path it bound, so the socket file is moved away first and left behind.
        var boundPath = Path.Combine(_receiver.TempDirectory, "bound");
        var stalePath = Path.Combine(_receiver.TempDirectory, "stale");
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(boundPath));
            File.Move(boundPath, stalePath);
        }

        Assert.True(File.Exists(stalePath));
        using var sink = new JournaldSink(new JournaldSinkOptions { SocketPath = stalePath });

        sink.Emit(Event("journald went away"));

        Assert.Equal(1, sink.Count(JournalSendOutcome.DroppedNoJournal));
    }

    [Fact]
    public void A_full_receive_queue_drops_without_blocking_and_counts()
    {
        // Nobody receives, so the socket's queue (net.unix.max_dgram_qlen) or our send buffer fills up and the
        // non-blocking send reports EAGAIN; the loop bound only guards against a sink that never reports it.
        const int bound = 100_000;
        var emitted = 0;
        while (_sink.Count(JournalSendOutcome.DroppedBusy) == 0 && emitted < bound)
        {
            _logger.Information("filling {Number}", emitted++);
        }

        Assert.Equal(1, _sink.Count(JournalSendOutcome.DroppedBusy));
        var sent = _sink.Count(JournalSendOutcome.Sent);
        Assert.Equal(emitted - 1, sent);
        for (var i = 0; i < sent; i++)
        {
            Assert.Equal($"filling {i}", _receiver.Receive().Entry.Text("MESSAGE"));
        }

        Assert.False(_receiver.HasPending);
    }

    [Fact]
    public void Other_send_errors_are_counted_and_reported_to_selflog_without_throwing()
    {
        var notADirectory = Path.Combine(_receiver.TempDirectory, "file");
        File.WriteAllText(notADirectory, "");
        using var sink = new JournaldSink(new JournaldSinkOptions { SocketPath = Path.Combine(notADirectory, "socket") });
        var selfLog = new StringWriter();
        SelfLog.Enable(TextWriter.Synchronized(selfLog));
        try
        {
            sink.Emit(Event("into a path that cannot be a socket"));
        }
        finally
        {
            SelfLog.Disable();
        }

        Assert.Equal(1, sink.Count(JournalSendOutcome.Failed));
        Assert.Contains("sendmsg failed with errno 20", selfLog.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Emit_after_dispose_does_not_throw()
    {
        _sink.Dispose();

        _sink.Emit(Event("too late"));

        Assert.Equal(1, _sink.Count(JournalSendOutcome.Failed));
    }

    [Fact]
    public void The_logger_configuration_extension_writes_through_the_sink()
    {
        using (var logger = new LoggerConfiguration()
            .WriteTo.Journald(new JournaldSinkOptions { SocketPath = _receiver.SocketPath }, restrictedToMinimumLevel: LogEventLevel.Warning)
            .CreateLogger())
        {
            logger.Information("below the minimum");
            logger.Warning("above the minimum");
        }

        Assert.Equal("above the minimum", _receiver.Receive().Entry.Text("MESSAGE"));
        Assert.False(_receiver.HasPending);
    }

    [Fact]
    public void Invalid_options_are_refused_at_construction()
    {
        Assert.Throws<ArgumentException>(() => new JournaldSink(new JournaldSinkOptions { SyslogIdentifier = "" }));
        var longPath = "/" + new string('x', 120);
        var error = Assert.Throws<ArgumentException>(() => new JournaldSink(new JournaldSinkOptions { SocketPath = longPath }));
        Assert.Contains(longPath, error.Message, StringComparison.Ordinal);
    }

    private static LogEvent Event(string text) =>
        new(DateTimeOffset.UtcNow, LogEventLevel.Information, null, new Serilog.Parsing.MessageTemplateParser().Parse(text), []);

    private static Exception Thrown(Exception exception)
    {
        try
        {
            throw exception;
        }
        catch (Exception caught)
        {
            return caught;
        }
    }
}

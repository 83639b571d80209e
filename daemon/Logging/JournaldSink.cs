using System.Buffers;
using Serilog.Core;
using Serilog.Debugging;
using Serilog.Events;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>
/// A Serilog sink writing each event to journald over the native protocol (fields: see
/// <see cref="JournalEventFormatter"/>; transport: see <see cref="JournalSocketSender"/>). Emit never throws and
/// never blocks: entries that cannot be delivered are counted by outcome (<see cref="Count"/>), and everything but
/// "no journald here" is also reported through Serilog's SelfLog. Emit may be called from several threads at once.
/// </summary>
internal sealed class JournaldSink : ILogEventSink, IDisposable
{
    private const int InitialBufferBytes = 4 * 1024;
    private const int MaxRetainedBufferBytes = 256 * 1024;

    // One encoding buffer per thread, taken out while in use so a re-entrant Emit gets a fresh one.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    private readonly string _socketPath;
    private readonly JournalEventFormatter _formatter;
    private readonly JournalSocketSender _sender;
    private readonly long[] _counts = new long[Enum.GetValues<JournalSendOutcome>().Length];

    /// <exception cref="ArgumentException">An option is invalid (see <see cref="JournaldSinkOptions"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux on x86_64 or arm64.</exception>
    public JournaldSink(JournaldSinkOptions options)
    {
        _socketPath = options.SocketPath;
        _formatter = new JournalEventFormatter(options);
        _sender = new JournalSocketSender(options.SocketPath);
    }

    /// <summary>How many events ended with <paramref name="outcome"/> since the sink was created.</summary>
    public long Count(JournalSendOutcome outcome) => Interlocked.Read(ref _counts[(int)outcome]);

    public void Emit(LogEvent logEvent)
    {
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(InitialBufferBytes);
        t_buffer = null;
        try
        {
            _formatter.Format(logEvent, buffer);
            Record(_sender.Send(buffer.WrittenSpan));
        }
#pragma warning disable CA1031 // A logging sink must not throw into the code that logs; the failure goes to SelfLog.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref _counts[(int)JournalSendOutcome.Failed]);
            SelfLog.WriteLine("journald sink: dropped an event for {0}: {1}", _socketPath, e);
        }
        finally
        {
            if (buffer.Capacity <= MaxRetainedBufferBytes)
            {
                buffer.ResetWrittenCount();
                t_buffer = buffer;
            }
        }
    }

    public void Dispose() => _sender.Dispose();

    private void Record(JournalSendResult result)
    {
        Interlocked.Increment(ref _counts[(int)result.Outcome]);
        if (result.Outcome is JournalSendOutcome.DroppedBusy or JournalSendOutcome.Failed)
        {
            SelfLog.WriteLine("journald sink: dropped an event for {0}: {1}", _socketPath, result);
        }
    }
}

using System.Threading.Channels;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// Signals matching <see cref="Rule"/>, delivered in arrival order through a bounded channel. When the reader
/// falls behind and the channel is full, the OLDEST queued signal is dropped and <see cref="DroppedCount"/> grows,
/// so the read loop never blocks on a slow subscriber. The channel completes with a
/// <see cref="DBusDisconnectedException"/> when the connection ends, and without error on disposal.
/// </summary>
internal sealed class DBusSignalSubscription : IAsyncDisposable
{
    private readonly DBusConnection _connection;
    private readonly Channel<DBusMessage> _channel;
    private long _dropped;

    internal DBusSignalSubscription(DBusConnection connection, MatchRule rule, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _connection = connection;
        Rule = rule;
        _channel = Channel.CreateBounded<DBusMessage>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true },
            _ => Interlocked.Increment(ref _dropped));
    }

    public MatchRule Rule { get; }

    public ChannelReader<DBusMessage> Signals => _channel.Reader;

    /// <summary>Signals discarded because the channel was full.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    public ValueTask DisposeAsync() => _connection.UnsubscribeAsync(this);

    internal void Deliver(DBusMessage signal) => _channel.Writer.TryWrite(signal);

    internal void Complete(Exception? error) => _channel.Writer.TryComplete(error);
}

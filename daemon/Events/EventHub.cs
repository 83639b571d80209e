using System.Threading.Channels;

namespace UnifiedLlm.Daemon.Events;

/// <summary>
/// Fans daemon events out to watchers (WatchEvents streams). Each subscriber has a bounded buffer; a watcher too slow to
/// keep up loses its oldest events, and the loss is counted, so a stuck client can never hold memory or stall publishers.
/// </summary>
internal sealed class EventHub
{
    public const int SubscriberCapacity = 1024;

    private readonly Lock gate = new();
    private readonly List<Subscription> subscriptions = [];
    private long dropped;

    public long DroppedEvents => Interlocked.Read(ref dropped);

    public void Publish(DaemonEvent daemonEvent)
    {
        Subscription[] targets;
        lock (gate)
        {
            targets = [.. subscriptions];
        }

        foreach (var subscription in targets)
        {
            if (subscription.Accepts(daemonEvent.Kind) && !subscription.Writer.TryWrite(daemonEvent))
            {
                Interlocked.Increment(ref dropped);
            }
        }
    }

    /// <summary>Events of the given kinds (all when empty) until the token is cancelled.</summary>
    public async IAsyncEnumerable<DaemonEvent> SubscribeAsync(
        IReadOnlyCollection<string> kinds, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<DaemonEvent>(new BoundedChannelOptions(SubscriberCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, _ => Interlocked.Increment(ref dropped));
        var subscription = new Subscription(channel.Writer, kinds.Count == 0 ? null : kinds.ToHashSet(StringComparer.Ordinal));
        lock (gate)
        {
            subscriptions.Add(subscription);
        }

        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken))
            {
                yield return item;
            }
        }
        finally
        {
            lock (gate)
            {
                subscriptions.Remove(subscription);
            }
        }
    }

    private sealed record Subscription(ChannelWriter<DaemonEvent> Writer, HashSet<string>? Kinds)
    {
        public bool Accepts(string kind) => Kinds is null || Kinds.Contains(kind);
    }
}

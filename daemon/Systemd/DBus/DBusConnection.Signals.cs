using System.Collections.Concurrent;

namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed partial class DBusConnection
{
    private const string BusName = "org.freedesktop.DBus";
    private const string BusPath = "/org/freedesktop/DBus";

    private readonly Lock _subscriptionsLock = new();
    private readonly ConcurrentDictionary<string, Lazy<Task>> _trackedNames = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string?> _nameOwners = new(StringComparer.Ordinal);
    private DBusSignalSubscription[] _subscriptions = [];

    /// <summary>
    /// Delivers signals matching <paramref name="rule"/> to a new subscription with a channel of
    /// <paramref name="capacity"/> signals. On a bus this also sends AddMatch; a well-known sender name is resolved
    /// to its current unique owner (and followed through NameOwnerChanged), so signals forged by another bus client
    /// never match.
    /// </summary>
    public async Task<DBusSignalSubscription> SubscribeAsync(MatchRule rule, int capacity, CancellationToken cancellationToken)
    {
        ThrowIfDisconnected();
        if (Mode == DBusConnectionMode.Bus && rule.Sender is { } sender && !sender.StartsWith(':') && sender != BusName)
        {
            await TrackNameOwnerAsync(sender, cancellationToken);
        }

        var subscription = new DBusSignalSubscription(this, rule, capacity);
        lock (_subscriptionsLock)
        {
            _subscriptions = [.. _subscriptions, subscription];
        }

        if (DisconnectReason is { } reason)
        {
            subscription.Complete(reason);
        }

        if (Mode == DBusConnectionMode.Bus)
        {
            try
            {
                await CallAsync(BusCall("AddMatch", new DBusString(rule.ToString())), cancellationToken);
            }
            catch
            {
                Remove(subscription);
                throw;
            }
        }

        return subscription;
    }

    /// <summary>The unique name owning <paramref name="name"/> on the bus, or null when nobody owns it.</summary>
    public async Task<string?> GetNameOwnerAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await CallAsync(BusCall("GetNameOwner", new DBusString(name)), cancellationToken);
            return reply.Argument(0).AsString();
        }
        catch (DBusErrorException e) when (e.ErrorName == "org.freedesktop.DBus.Error.NameHasNoOwner")
        {
            return null;
        }
    }

    internal async ValueTask UnsubscribeAsync(DBusSignalSubscription subscription)
    {
        if (!Remove(subscription) || Mode != DBusConnectionMode.Bus || DisconnectReason is not null)
        {
            return;
        }

        try
        {
            // No reply awaited: disposal must not hang on an unresponsive peer.
            await SendAsync(BusCall("RemoveMatch", new DBusString(subscription.Rule.ToString())) with { Flags = DBusMessageFlags.NoReplyExpected }, CancellationToken.None);
        }
        catch (DBusDisconnectedException)
        {
        }
    }

    private static DBusMessage BusCall(string member, params IReadOnlyList<DBusValue> arguments) =>
        DBusMessage.MethodCall(BusName, BusPath, BusName, member, arguments);

    private async Task HelloAsync(CancellationToken cancellationToken)
    {
        var reply = await CallAsync(BusCall("Hello"), cancellationToken);
        UniqueName = reply.Argument(0).AsString();
    }

    private async Task TrackNameOwnerAsync(string name, CancellationToken cancellationToken)
    {
        var tracking = _trackedNames.GetOrAdd(name, n => new Lazy<Task>(() => StartTrackingAsync(n, cancellationToken)));
        try
        {
            await tracking.Value;
        }
        catch
        {
            _trackedNames.TryRemove(new KeyValuePair<string, Lazy<Task>>(name, tracking));
            throw;
        }
    }

    private async Task StartTrackingAsync(string name, CancellationToken cancellationToken)
    {
        _nameOwners.TryAdd(name, null);
        var ownerChanged = new MatchRule(Sender: BusName, Path: BusPath, Interface: BusName, Member: "NameOwnerChanged", Arg0: name);
        await CallAsync(BusCall("AddMatch", new DBusString(ownerChanged.ToString())), cancellationToken);

        // The owner is recorded on the read loop, in message order: NameOwnerChanged signals that arrive
        // before this reply are older than it, those after it are newer and overwrite it.
        void Record(DBusMessage reply) =>
            _nameOwners[name] = reply.Type == DBusMessageType.MethodReturn && reply.Body is [DBusString owner] ? owner.Value : null;
        try
        {
            await CallAsync(BusCall("GetNameOwner", new DBusString(name)), Record, cancellationToken);
        }
        catch (DBusErrorException e) when (e.ErrorName == "org.freedesktop.DBus.Error.NameHasNoOwner")
        {
        }
    }

    private void DispatchSignal(DBusMessage signal)
    {
        if (signal is { Sender: BusName, Interface: BusName, Member: "NameOwnerChanged", Body: [DBusString name, DBusString, DBusString newOwner] }
            && _nameOwners.ContainsKey(name.Value))
        {
            _nameOwners[name.Value] = newOwner.Value.Length == 0 ? null : newOwner.Value;
        }

        foreach (var subscription in Volatile.Read(ref _subscriptions))
        {
            var owner = subscription.Rule.Sender is { } sender ? _nameOwners.GetValueOrDefault(sender) : null;
            if (subscription.Rule.Matches(signal, owner))
            {
                subscription.Deliver(signal);
            }
        }
    }

    private bool Remove(DBusSignalSubscription subscription)
    {
        bool removed;
        lock (_subscriptionsLock)
        {
            var remaining = _subscriptions.Where(s => s != subscription).ToArray();
            removed = remaining.Length != _subscriptions.Length;
            _subscriptions = remaining;
        }

        subscription.Complete(null);
        return removed;
    }

    private void CompleteSubscriptions(DBusDisconnectedException reason)
    {
        foreach (var subscription in Volatile.Read(ref _subscriptions))
        {
            subscription.Complete(new DBusDisconnectedException(reason.Message, reason.InnerException));
        }
    }
}

using UnifiedLlm.Daemon.Events;

namespace UnifiedLlm.Tests.Daemon;

public class EventHubTests
{
    [Fact]
    public async Task Subscribers_receive_the_kinds_they_asked_for_in_order()
    {
        var hub = new EventHub();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var all = hub.SubscribeAsync([], cts.Token).GetAsyncEnumerator(cts.Token);
        var loads = hub.SubscribeAsync(["load"], cts.Token).GetAsyncEnumerator(cts.Token);
        var allFirst = all.MoveNextAsync();
        var loadsFirst = loads.MoveNextAsync();
        Assert.Equal(2, hub.SubscriberCount);

        hub.Publish(Event("config", "1"));
        hub.Publish(Event("load", "2"));

        Assert.True(await allFirst);
        Assert.Equal("1", all.Current.Message);
        Assert.True(await all.MoveNextAsync());
        Assert.Equal("2", all.Current.Message);
        Assert.True(await loadsFirst);
        Assert.Equal("2", loads.Current.Message);
        await cts.CancelAsync();
        await all.DisposeAsync();
        await loads.DisposeAsync();
    }

    [Fact]
    public async Task A_slow_subscriber_loses_its_oldest_events_and_the_loss_is_counted()
    {
        var hub = new EventHub();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var slow = hub.SubscribeAsync([], cts.Token).GetAsyncEnumerator(cts.Token);
        var first = slow.MoveNextAsync();
        Assert.Equal(1, hub.SubscriberCount);
        hub.Publish(Event("load", "warm-up"));
        Assert.True(await first);
        Assert.Equal("warm-up", slow.Current.Message);

        // Nobody reads now: the buffer fills, and the oldest events make room for the newest.
        for (var i = 0; i < EventHub.SubscriberCapacity + 10; i++)
        {
            hub.Publish(Event("load", i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.True(await slow.MoveNextAsync());
        Assert.Equal("10", slow.Current.Message);
        Assert.Equal(10, hub.DroppedEvents);
        await cts.CancelAsync();
        await slow.DisposeAsync();
    }

    private static DaemonEvent Event(string kind, string message) => new(DateTimeOffset.UnixEpoch, kind, message);
}

using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>The client against a real dbus-daemon started by the test on a private socket.</summary>
public sealed class DBusDaemonIntegrationTests(DBusDaemonFixture bus) : IClassFixture<DBusDaemonFixture>
{
    private const string BusName = "org.freedesktop.DBus";
    private const string BusPath = "/org/freedesktop/DBus";

    private static DBusMessage BusCall(string member, params IReadOnlyList<DBusValue> args) =>
        DBusMessage.MethodCall(BusName, BusPath, BusName, member, args);

    private Task<DBusConnection> ConnectAsync() => DBusConnection.ConnectAsync(bus.Address, DBusConnectionMode.Bus, TestContext.Current.CancellationToken);

    [Fact(Timeout = 60_000)]
    public async Task Hello_assigns_a_unique_name_that_ListNames_reports()
    {
        await using var connection = await ConnectAsync();
        Assert.StartsWith(":1.", connection.UniqueName);
        Assert.Matches("^[0-9a-f]{32}$", connection.ServerGuid);
        var names = (await connection.CallAsync(BusCall("ListNames"), TestContext.Current.CancellationToken)).Argument(0).AsStringArray();
        Assert.Contains(BusName, names);
        Assert.Contains(connection.UniqueName, names);
    }

    [Fact(Timeout = 60_000)]
    public async Task Peer_credentials_are_the_daemons()
    {
        await using var connection = await DBusConnection.ConnectAsync(bus.Address, DBusConnectionMode.Bus, TestContext.Current.CancellationToken);
        Assert.True(connection.Peer.Pid > 0);
        Assert.Equal(UnixIdentity.EffectiveUserId(), connection.Peer.Uid);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetNameOwner_resolves_names_and_reports_unowned_ones_as_null()
    {
        await using var connection = await ConnectAsync();
        Assert.Equal(BusName, await connection.GetNameOwnerAsync(BusName, TestContext.Current.CancellationToken));
        Assert.Equal(connection.UniqueName, await connection.GetNameOwnerAsync(connection.UniqueName!, TestContext.Current.CancellationToken));
        Assert.Null(await connection.GetNameOwnerAsync("org.ullm.Nobody", TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = 60_000)]
    public async Task Unknown_method_is_a_typed_error_reply_and_the_connection_stays_usable()
    {
        await using var connection = await ConnectAsync();
        var error = await Assert.ThrowsAsync<DBusErrorException>(() => connection.CallAsync(BusCall("NoSuchMethod"), TestContext.Current.CancellationToken));
        Assert.Equal("org.freedesktop.DBus.Error.UnknownMethod", error.ErrorName);
        Assert.Contains("NoSuchMethod", error.ErrorMessage);
        Assert.NotEmpty((await connection.CallAsync(BusCall("ListNames"), TestContext.Current.CancellationToken)).Argument(0).AsArray());
    }

    [Fact(Timeout = 60_000)]
    public async Task Wrong_argument_types_are_a_typed_error_reply()
    {
        await using var connection = await ConnectAsync();
        var error = await Assert.ThrowsAsync<DBusErrorException>(() => connection.CallAsync(BusCall("GetNameOwner", new DBusUInt32(1)), TestContext.Current.CancellationToken));
        Assert.Equal("org.freedesktop.DBus.Error.InvalidArgs", error.ErrorName);
    }

    [Fact(Timeout = 60_000)]
    public async Task AddMatch_delivers_NameOwnerChanged_when_a_second_connection_connects()
    {
        await using var first = await ConnectAsync();
        await using var subscription = await first.SubscribeAsync(
            new MatchRule(Sender: BusName, Interface: BusName, Member: "NameOwnerChanged"), 64, TestContext.Current.CancellationToken);
        await using var second = await ConnectAsync();
        await foreach (var signal in subscription.Signals.ReadAllAsync(TestContext.Current.CancellationToken))
        {
            if (signal.Argument(0).AsString() == second.UniqueName)
            {
                Assert.Equal("", signal.Argument(1).AsString());
                Assert.Equal(second.UniqueName, signal.Argument(2).AsString());
                return;
            }
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Method_call_to_another_connection_gets_its_UnknownMethod_reply()
    {
        await using var caller = await ConnectAsync();
        await using var callee = await ConnectAsync();
        var error = await Assert.ThrowsAsync<DBusErrorException>(() =>
            caller.CallAsync(DBusMessage.MethodCall(callee.UniqueName, "/x", "org.ullm.Test", "Ping"), TestContext.Current.CancellationToken));
        Assert.Equal("org.freedesktop.DBus.Error.UnknownMethod", error.ErrorName);
        Assert.Contains("org.ullm.Test.Ping", error.ErrorMessage);
    }

    [Fact(Timeout = 60_000)]
    public async Task Well_known_sender_filter_rejects_signals_forged_by_other_connections_and_follows_owner_changes()
    {
        const string Name = "org.ullm.Emitter";
        await using var listener = await ConnectAsync();
        await using var owner = await ConnectAsync();
        await using var forger = await ConnectAsync();
        await using var successor = await ConnectAsync();
        await RequestNameAsync(owner, Name);

        var signal = DBusMessage.Signal("/org/ullm/test", "org.ullm.Test", "Tick");
        await using var trusted = await listener.SubscribeAsync(new MatchRule(Sender: Name, Interface: "org.ullm.Test"), 16, TestContext.Current.CancellationToken);
        await using var everyone = await listener.SubscribeAsync(new MatchRule(Interface: "org.ullm.Test"), 16, TestContext.Current.CancellationToken);

        await forger.SendAsync(signal with { Body = [new DBusString("forged")] }, TestContext.Current.CancellationToken);
        await owner.SendAsync(signal with { Body = [new DBusString("genuine")] }, TestContext.Current.CancellationToken);
        Assert.Equal("forged", (await everyone.Signals.ReadAsync(TestContext.Current.CancellationToken)).Argument(0).AsString());
        Assert.Equal("genuine", (await everyone.Signals.ReadAsync(TestContext.Current.CancellationToken)).Argument(0).AsString());
        var first = await trusted.Signals.ReadAsync(TestContext.Current.CancellationToken);
        Assert.Equal(("genuine", owner.UniqueName), (first.Argument(0).AsString(), first.Sender));

        await owner.CallAsync(BusCall("ReleaseName", new DBusString(Name)), TestContext.Current.CancellationToken);
        await RequestNameAsync(successor, Name);
        await owner.SendAsync(signal with { Body = [new DBusString("former owner")] }, TestContext.Current.CancellationToken);
        await successor.SendAsync(signal with { Body = [new DBusString("new owner")] }, TestContext.Current.CancellationToken);
        Assert.Equal("former owner", (await everyone.Signals.ReadAsync(TestContext.Current.CancellationToken)).Argument(0).AsString());
        Assert.Equal("new owner", (await everyone.Signals.ReadAsync(TestContext.Current.CancellationToken)).Argument(0).AsString());
        Assert.Equal("new owner", (await trusted.Signals.ReadAsync(TestContext.Current.CancellationToken)).Argument(0).AsString());
        Assert.False(trusted.Signals.TryRead(out _));
    }

    [Fact(Timeout = 60_000)]
    public async Task Slow_subscriber_loses_the_oldest_signals_and_counts_them()
    {
        await using var listener = await ConnectAsync();
        await using var emitter = await ConnectAsync();
        await using var slow = await listener.SubscribeAsync(new MatchRule(Sender: emitter.UniqueName, Member: "Tick"), 4, TestContext.Current.CancellationToken);
        await using var marker = await listener.SubscribeAsync(new MatchRule(Sender: emitter.UniqueName, Member: "Done"), 4, TestContext.Current.CancellationToken);
        for (var i = 0; i < 10; i++)
        {
            await emitter.SendAsync(DBusMessage.Signal("/t", "org.ullm.Test", "Tick", new DBusUInt32((uint)i)), TestContext.Current.CancellationToken);
        }

        await emitter.SendAsync(DBusMessage.Signal("/t", "org.ullm.Test", "Done"), TestContext.Current.CancellationToken);
        await marker.Signals.ReadAsync(TestContext.Current.CancellationToken);
        Assert.Equal(6, slow.DroppedCount);
        var kept = new List<uint>();
        while (slow.Signals.TryRead(out var tick))
        {
            kept.Add(tick.Argument(0).AsUInt32());
        }

        Assert.Equal([6u, 7u, 8u, 9u], kept);
    }

    [Fact(Timeout = 60_000)]
    public async Task Unsubscribing_sends_RemoveMatch_and_completes_the_channel()
    {
        await using var listener = await ConnectAsync();
        var subscription = await listener.SubscribeAsync(new MatchRule(Interface: "org.ullm.Test"), 4, TestContext.Current.CancellationToken);
        await subscription.DisposeAsync();
        await subscription.Signals.Completion.WaitAsync(TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<DBusErrorException>(() =>
            listener.CallAsync(BusCall("RemoveMatch", new DBusString(subscription.Rule.ToString())), TestContext.Current.CancellationToken));
        Assert.Equal("org.freedesktop.DBus.Error.MatchRuleNotFound", error.ErrorName);
    }

    [Fact(Timeout = 60_000)]
    public async Task Disposing_fails_later_calls_with_a_disconnected_error()
    {
        var connection = await ConnectAsync();
        await connection.DisposeAsync();
        await connection.Closed.WaitAsync(TestContext.Current.CancellationToken);
        await Assert.ThrowsAsync<DBusDisconnectedException>(() => connection.CallAsync(BusCall("ListNames"), TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = 60_000)]
    public async Task Addresses_are_tried_in_order_until_one_connects()
    {
        var missing = Path.Combine(Path.GetTempPath(), "ullm-no-such-socket-" + Guid.NewGuid().ToString("N"));
        await using var connection = await DBusConnection.ConnectAsync($"unix:path={missing};{bus.Address}", DBusConnectionMode.Bus, TestContext.Current.CancellationToken);
        Assert.NotNull(connection.UniqueName);
        var error = await Assert.ThrowsAsync<DBusConnectException>(() => DBusConnection.ConnectAsync($"unix:path={missing}", DBusConnectionMode.Bus, TestContext.Current.CancellationToken));
        Assert.Contains($"no socket at {missing} (no such file)", error.Message);
    }

    [Fact(Timeout = 60_000)]
    public async Task Server_refusing_EXTERNAL_is_reported_with_the_mechanisms_it_offers()
    {
        await using var anonymousOnly = await DBusDaemonProcess.StartAsync("ANONYMOUS");
        var error = await Assert.ThrowsAsync<DBusConnectException>(() => DBusConnection.ConnectAsync(anonymousOnly.Address, DBusConnectionMode.Bus, TestContext.Current.CancellationToken));
        Assert.Contains("authentication rejected", error.Message);
        Assert.Contains("ANONYMOUS", error.Message);
    }

    private static async Task RequestNameAsync(DBusConnection connection, string name)
    {
        var reply = await connection.CallAsync(BusCall("RequestName", new DBusString(name), new DBusUInt32(4)), TestContext.Current.CancellationToken);
        Assert.Equal(1u, reply.Argument(0).AsUInt32());
    }
}

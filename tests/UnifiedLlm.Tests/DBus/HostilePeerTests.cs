using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>A peer that authenticates correctly and then misbehaves on purpose (garbage, silence, hang-up).</summary>
public sealed class HostilePeerTests : IDisposable
{
    private readonly ScriptedPeer _peer = new();

    public void Dispose() => _peer.Dispose();

    [Fact(Timeout = 60_000)]
    public async Task Garbage_after_auth_fails_the_pending_call_with_the_protocol_error()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await _peer.ConnectClientAsync(ct);
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "C"), ct);
        await _peer.ReadMessageAsync(ct);
        await _peer.SendRawAsync("l\x02\x00\x01garbage-garbage-garbage"u8.ToArray(), ct);
        var error = await Assert.ThrowsAsync<DBusDisconnectedException>(() => call);
        Assert.IsType<DBusProtocolException>(error.InnerException);
        Assert.NotNull(connection.DisconnectReason);
    }

    [Fact(Timeout = 60_000)]
    public async Task Announced_huge_message_is_refused_before_allocation()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await _peer.ConnectClientAsync(ct);
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "C"), ct);
        await _peer.ReadMessageAsync(ct);
        await _peer.SendRawAsync(Hex.Bytes("6c 02 00 01 | 00 00 00 7f | 01 00 00 00 | 00 00 00 00"), ct);
        var error = await Assert.ThrowsAsync<DBusDisconnectedException>(() => call);
        Assert.Contains("exceeds the 134217728-byte limit", error.Message);
    }

    [Fact(Timeout = 60_000)]
    public async Task Unanswered_call_honours_cancellation_and_the_connection_stays_usable()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await _peer.ConnectClientAsync(ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "Never"), cancel.Token);
        await _peer.ReadMessageAsync(ct);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        var second = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "Answered"), ct);
        await _peer.ReplyAsync(await _peer.ReadMessageAsync(ct), ct, new DBusString("ok"));
        Assert.Equal("ok", (await second).Argument(0).AsString());
    }

    [Fact(Timeout = 60_000)]
    public async Task Peer_hanging_up_fails_pending_calls_and_completes_Closed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await _peer.ConnectClientAsync(ct);
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "C"), ct);
        await _peer.ReadMessageAsync(ct);
        _peer.Socket!.Dispose();
        await Assert.ThrowsAsync<DBusDisconnectedException>(() => call);
        await connection.Closed.WaitAsync(ct);
    }
}

namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed partial class DBusConnection
{
    private async Task ReadLoopAsync()
    {
        Exception? failure = null;
        try
        {
            var fixedHeader = new byte[DBusMessageReader.FixedHeaderLength];
            while (await ReadFixedHeaderAsync(fixedHeader))
            {
                var message = new byte[DBusMessageReader.GetMessageLength(fixedHeader)];
                fixedHeader.CopyTo(message, 0);
                await _stream.ReadExactlyAsync(message.AsMemory(fixedHeader.Length), _closing.Token);
                await DispatchAsync(DBusMessageReader.Read(message));
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Any failure ends the connection; the pending calls and subscribers learn why through Shutdown.
            failure = e;
        }

        Shutdown(failure is null
            ? new DBusDisconnectedException("the peer closed the connection")
            : new DBusDisconnectedException($"connection lost: {failure.Message}", failure));
    }

    /// <summary>False on a clean end of stream between messages; a stream ending inside a message is an error.</summary>
    private async Task<bool> ReadFixedHeaderAsync(byte[] fixedHeader)
    {
        if (await _stream.ReadAsync(fixedHeader.AsMemory(0, 1), _closing.Token) == 0)
        {
            return false;
        }

        await _stream.ReadExactlyAsync(fixedHeader.AsMemory(1), _closing.Token);
        return true;
    }

    private async Task DispatchAsync(DBusMessage message)
    {
        switch (message.Type)
        {
            case DBusMessageType.MethodReturn or DBusMessageType.Error:
                if (_pending.TryRemove(message.ReplySerial!.Value, out var pending))
                {
                    pending.OnReplyInReadLoop?.Invoke(message);
                    pending.Completion.TrySetResult(message);
                }

                break;
            case DBusMessageType.Signal:
                DispatchSignal(message);
                break;
            case DBusMessageType.MethodCall when !message.Flags.HasFlag(DBusMessageFlags.NoReplyExpected):
                // We export no objects; the specification requires an error reply rather than silence.
                await SendAsync(
                    DBusMessage.ErrorReply(message, "org.freedesktop.DBus.Error.UnknownMethod", $"no method {message.Interface}.{message.Member} at {message.Path}"),
                    _closing.Token);
                break;
        }
    }
}

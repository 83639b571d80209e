namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// A method call waiting for its reply. <see cref="OnReplyInReadLoop"/> runs on the read loop before any later
/// message is dispatched, for state that must be updated in message order (e.g. a name owner).
/// </summary>
internal sealed class PendingCall(Action<DBusMessage>? onReplyInReadLoop)
{
    public TaskCompletionSource<DBusMessage> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Action<DBusMessage>? OnReplyInReadLoop { get; } = onReplyInReadLoop;
}

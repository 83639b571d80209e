namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>One D-Bus message: the header fields that are present and the body values (whose signatures form the body signature).</summary>
internal sealed record DBusMessage
{
    public required DBusMessageType Type { get; init; }

    public DBusMessageFlags Flags { get; init; }

    /// <summary>Assigned by the connection when sent; never 0 on the wire.</summary>
    public uint Serial { get; init; }

    public string? Path { get; init; }

    public string? Interface { get; init; }

    public string? Member { get; init; }

    public string? ErrorName { get; init; }

    public uint? ReplySerial { get; init; }

    public string? Destination { get; init; }

    public string? Sender { get; init; }

    /// <summary>Number of unix fds the peer says accompany the message; we never negotiate fd passing, so anything but null/0 is refused.</summary>
    public uint? UnixFds { get; init; }

    public IReadOnlyList<DBusValue> Body { get; init; } = [];

    public string Signature => string.Concat(Body.Select(v => v.Signature));

    /// <summary>The body argument at <paramref name="index"/>; a missing one is a protocol error naming the message.</summary>
    public DBusValue Argument(int index) =>
        index < Body.Count ? Body[index] : throw new DBusProtocolException($"{Interface}.{Member} reply has {Body.Count} arguments, expected at least {index + 1} (signature \"{Signature}\")");

    public static DBusMessage MethodCall(string? destination, string path, string @interface, string member, params IReadOnlyList<DBusValue> body) => new()
    {
        Type = DBusMessageType.MethodCall,
        Destination = destination,
        Path = path,
        Interface = @interface,
        Member = member,
        Body = body,
    };

    public static DBusMessage Signal(string path, string @interface, string member, params IReadOnlyList<DBusValue> body) => new()
    {
        Type = DBusMessageType.Signal,
        Path = path,
        Interface = @interface,
        Member = member,
        Body = body,
    };

    public static DBusMessage ErrorReply(DBusMessage call, string errorName, string text) => new()
    {
        Type = DBusMessageType.Error,
        Flags = DBusMessageFlags.NoReplyExpected,
        ErrorName = errorName,
        ReplySerial = call.Serial,
        Destination = call.Sender,
        Body = [new DBusString(text)],
    };

    public override string ToString() =>
        $"{Type} serial={Serial}{(ReplySerial is { } r ? $" reply_serial={r}" : "")} {Path} {Interface}.{Member}{ErrorName} sig=\"{Signature}\"";
}

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Serialises a message: fixed header, <c>a(yv)</c> header fields, padding to 8, body; always little-endian.</summary>
internal static class DBusMessageWriter
{
    public static byte[] Write(DBusMessage message)
    {
        Validate(message);
        var signature = message.Signature;
        DBusSignature.Parse(signature);

        var writer = new DBusWriter();
        writer.WriteByte((byte)'l');
        writer.WriteByte((byte)message.Type);
        writer.WriteByte((byte)message.Flags);
        writer.WriteByte(1);
        writer.WriteUInt32(0);
        writer.WriteUInt32(message.Serial);
        writer.WriteArray(new DBusArray("(yv)", HeaderFields(message, signature)));
        writer.Align(8);
        var bodyStart = writer.Position;
        foreach (var value in message.Body)
        {
            writer.WriteValue(value);
        }

        writer.PatchUInt32(4, (uint)(writer.Position - bodyStart));
        return writer.ToArray();
    }

    private static List<DBusValue> HeaderFields(DBusMessage message, string signature)
    {
        var fields = new List<DBusValue>();
        void Add(DBusHeaderField code, DBusValue? value)
        {
            if (value is not null)
            {
                fields.Add(new DBusStruct(new DBusByte((byte)code), new DBusVariant(value)));
            }
        }

        Add(DBusHeaderField.Path, message.Path is null ? null : new DBusObjectPath(message.Path));
        Add(DBusHeaderField.Interface, message.Interface is null ? null : new DBusString(message.Interface));
        Add(DBusHeaderField.Member, message.Member is null ? null : new DBusString(message.Member));
        Add(DBusHeaderField.ErrorName, message.ErrorName is null ? null : new DBusString(message.ErrorName));
        Add(DBusHeaderField.ReplySerial, message.ReplySerial is null ? null : new DBusUInt32(message.ReplySerial.Value));
        Add(DBusHeaderField.Destination, message.Destination is null ? null : new DBusString(message.Destination));
        Add(DBusHeaderField.Sender, message.Sender is null ? null : new DBusString(message.Sender));
        Add(DBusHeaderField.Signature, signature.Length == 0 ? null : new DBusSignatureValue(signature));
        Add(DBusHeaderField.UnixFds, message.UnixFds is null ? null : new DBusUInt32(message.UnixFds.Value));
        return fields;
    }

    private static void Validate(DBusMessage message)
    {
        if (message.Serial == 0)
        {
            throw new ArgumentException("a message serial must not be 0", nameof(message));
        }

        var missing = DBusMessageRules.MissingRequiredField(message);
        if (missing is not null)
        {
            throw new ArgumentException($"a {message.Type} message needs the {missing} header field", nameof(message));
        }
    }
}

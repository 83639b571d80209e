using System.Buffers.Binary;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// Frames and parses messages in either byte order. <see cref="GetMessageLength"/> needs only the 16-byte fixed
/// header, so a reader can check the limits before allocating the rest; <see cref="Read"/> validates everything else.
/// </summary>
internal static class DBusMessageReader
{
    public const int FixedHeaderLength = 16;

    private static readonly DBusType HeaderFieldsType = DBusSignature.ParseSingle("a(yv)");

    /// <summary>Total message length announced by the fixed header; throws when it exceeds the specification's limits.</summary>
    public static int GetMessageLength(ReadOnlySpan<byte> fixedHeader)
    {
        if (fixedHeader.Length < FixedHeaderLength)
        {
            throw new DBusProtocolException($"truncated: fixed header needs {FixedHeaderLength} bytes, got {fixedHeader.Length}", 0);
        }

        var bigEndian = fixedHeader[0] switch
        {
            (byte)'l' => false,
            (byte)'B' => true,
            var other => throw new DBusProtocolException($"endianness byte is 0x{other:x2}, not 'l' or 'B'", 0),
        };
        if (fixedHeader[3] != 1)
        {
            throw new DBusProtocolException($"protocol version is {fixedHeader[3]}, not 1", 3);
        }

        var bodyLength = ReadUInt32(fixedHeader[4..], bigEndian);
        var fieldsLength = ReadUInt32(fixedHeader[12..], bigEndian);
        if (fieldsLength > DBusLimits.MaxArrayBytes)
        {
            throw new DBusProtocolException($"header field array of {fieldsLength} bytes exceeds the {DBusLimits.MaxArrayBytes}-byte limit", 12);
        }

        var total = AlignTo8(FixedHeaderLength + (long)fieldsLength) + bodyLength;
        if (total > DBusLimits.MaxMessageBytes)
        {
            throw new DBusProtocolException($"message of {total} bytes exceeds the {DBusLimits.MaxMessageBytes}-byte limit", 4);
        }

        return (int)total;
    }

    public static DBusMessage Read(ReadOnlyMemory<byte> data)
    {
        var length = GetMessageLength(data.Span);
        if (data.Length != length)
        {
            throw new DBusProtocolException($"message is {data.Length} bytes but its header announces {length}", 0);
        }

        var bigEndian = data.Span[0] == (byte)'B';
        var type = data.Span[1];
        var flags = data.Span[2];
        var reader = new DBusReader(data, bigEndian, position: 8);
        var serial = reader.ReadUInt32();
        if (serial == 0)
        {
            throw new DBusProtocolException("serial is 0", 8);
        }

        var message = ReadHeaderFields(reader, new DBusMessage { Type = (DBusMessageType)type, Flags = (DBusMessageFlags)flags, Serial = serial }, out var signature);
        reader.Align(8);
        message = message with { Body = ReadBody(data, bigEndian, reader.Position, signature) };
        var missing = DBusMessageRules.MissingRequiredField(message);
        if (missing is not null)
        {
            throw new DBusProtocolException($"{message.Type} message lacks the required {missing} header field", 12);
        }

        return message;
    }

    private static DBusMessage ReadHeaderFields(DBusReader reader, DBusMessage message, out string signature)
    {
        signature = string.Empty;
        var fieldsOffset = reader.Position;
        var seen = new HashSet<byte>();
        foreach (var entry in reader.ReadValue(HeaderFieldsType).AsArray())
        {
            var fields = entry.AsStruct();
            var code = fields[0].AsByte();
            var value = fields[1].AsVariant();
            if (!seen.Add(code))
            {
                throw new DBusProtocolException($"header field {code} appears twice", fieldsOffset);
            }

            var expected = ExpectedSignature(code);
            if (expected is null)
            {
                continue;
            }

            if (value.Signature != expected)
            {
                throw new DBusProtocolException($"header field {(DBusHeaderField)code} has type '{value.Signature}', expected '{expected}'", fieldsOffset);
            }

            message = (DBusHeaderField)code switch
            {
                DBusHeaderField.Path => message with { Path = value.AsObjectPath() },
                DBusHeaderField.Interface => message with { Interface = value.AsString() },
                DBusHeaderField.Member => message with { Member = value.AsString() },
                DBusHeaderField.ErrorName => message with { ErrorName = value.AsString() },
                DBusHeaderField.ReplySerial => message with { ReplySerial = value.AsUInt32() },
                DBusHeaderField.Destination => message with { Destination = value.AsString() },
                DBusHeaderField.Sender => message with { Sender = value.AsString() },
                DBusHeaderField.UnixFds => message with { UnixFds = value.AsUInt32() },
                _ => message,
            };
            if (code == (byte)DBusHeaderField.Signature)
            {
                signature = value.AsSignature();
            }
        }

        if (message.UnixFds is > 0)
        {
            throw new DBusProtocolException($"message claims {message.UnixFds} unix fds, but fd passing was not negotiated", fieldsOffset);
        }

        return message;
    }

    private static List<DBusValue> ReadBody(ReadOnlyMemory<byte> data, bool bigEndian, int bodyStart, string signature)
    {
        var reader = new DBusReader(data, bigEndian, bodyStart);
        var body = new List<DBusValue>();
        foreach (var type in DBusSignature.Parse(signature))
        {
            body.Add(reader.ReadValue(type));
        }

        if (reader.Position != data.Length)
        {
            throw new DBusProtocolException($"body has {data.Length - reader.Position} bytes beyond its signature \"{signature}\"", reader.Position);
        }

        return body;
    }

    /// <summary>Signature a known header field must have; null for codes this version of the spec does not define (ignored).</summary>
    private static string? ExpectedSignature(byte code) => (DBusHeaderField)code switch
    {
        DBusHeaderField.Path => "o",
        DBusHeaderField.Interface or DBusHeaderField.Member or DBusHeaderField.ErrorName
            or DBusHeaderField.Destination or DBusHeaderField.Sender => "s",
        DBusHeaderField.ReplySerial or DBusHeaderField.UnixFds => "u",
        DBusHeaderField.Signature => "g",
        _ => null,
    };

    private static uint ReadUInt32(ReadOnlySpan<byte> span, bool bigEndian) =>
        bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(span) : BinaryPrimitives.ReadUInt32LittleEndian(span);

    private static long AlignTo8(long value) => (value + 7) & ~7L;
}

namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed partial class DBusReader
{
    /// <summary>Reads one value of <paramref name="type"/>; <paramref name="depth"/> counts enclosing containers, variants included.</summary>
    public DBusValue ReadValue(DBusType type, int depth = 0)
    {
        return type.Code switch
        {
            'y' => new DBusByte(ReadByte()),
            'b' => new DBusBoolean(ReadBoolean()),
            'n' => new DBusInt16(ReadInt16()),
            'q' => new DBusUInt16(ReadUInt16()),
            'i' => new DBusInt32(ReadInt32()),
            'u' => new DBusUInt32(ReadUInt32()),
            'x' => new DBusInt64(ReadInt64()),
            't' => new DBusUInt64(ReadUInt64()),
            'd' => new DBusDouble(ReadDouble()),
            's' => new DBusString(ReadString()),
            'o' => new DBusObjectPath(ReadObjectPath()),
            'g' => new DBusSignatureValue(ReadSignature()),
            'a' => ReadArray(type.Element!, EnterContainer(depth)),
            '(' => new DBusStruct(ReadFields(type, EnterContainer(depth))),
            '{' => ReadDictEntry(type, EnterContainer(depth)),
            'v' => ReadVariant(EnterContainer(depth)),
            'h' => throw new DBusProtocolException("unix file descriptors ('h') are not supported on this connection", Position),
            _ => throw new DBusProtocolException($"unknown type code '{type.Code}'", Position),
        };
    }

    private int EnterContainer(int depth) =>
        depth + 1 <= DBusLimits.MaxTotalNesting
            ? depth + 1
            : throw new DBusProtocolException($"values nested deeper than {DBusLimits.MaxTotalNesting}", Position);

    private DBusValue ReadArray(DBusType element, int depth)
    {
        var lengthOffset = Position;
        var length = ReadUInt32();
        if (length > DBusLimits.MaxArrayBytes)
        {
            throw new DBusProtocolException($"array length {length} exceeds the {DBusLimits.MaxArrayBytes}-byte limit", lengthOffset);
        }

        Align(element.Alignment);
        if (length > (uint)(End - Position))
        {
            throw new DBusProtocolException($"truncated: array of {length} bytes but only {End - Position} remain", lengthOffset);
        }

        if (element.Code == 'y')
        {
            return new DBusByteArray(TakeMemory((int)length, "byte array"));
        }

        var arrayEnd = Position + (int)length;
        var items = new List<DBusValue>();
        while (Position < arrayEnd)
        {
            items.Add(ReadValue(element, depth));
        }

        if (Position != arrayEnd)
        {
            throw new DBusProtocolException($"array elements overrun the declared length {length}", lengthOffset);
        }

        return new DBusArray(element.Signature, items);
    }

    private List<DBusValue> ReadFields(DBusType type, int depth)
    {
        Align(8);
        var fields = new List<DBusValue>(type.Fields.Count);
        foreach (var field in type.Fields)
        {
            fields.Add(ReadValue(field, depth));
        }

        return fields;
    }

    private DBusDictEntry ReadDictEntry(DBusType type, int depth)
    {
        var fields = ReadFields(type, depth);
        return new DBusDictEntry(fields[0], fields[1]);
    }

    private DBusVariant ReadVariant(int depth)
    {
        var offset = Position;
        var signature = ReadSignature();
        var types = DBusSignature.Parse(signature);
        if (types.Count != 1)
        {
            throw new DBusProtocolException($"variant signature \"{signature}\" is not exactly one complete type", offset);
        }

        return new DBusVariant(ReadValue(types[0], depth));
    }
}

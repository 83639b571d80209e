namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed partial class DBusWriter
{
    /// <summary>Writes any value, containers recursively.</summary>
    public void WriteValue(DBusValue value)
    {
        switch (value)
        {
            case DBusByte v: WriteByte(v.Value); break;
            case DBusBoolean v: WriteBoolean(v.Value); break;
            case DBusInt16 v: WriteInt16(v.Value); break;
            case DBusUInt16 v: WriteUInt16(v.Value); break;
            case DBusInt32 v: WriteInt32(v.Value); break;
            case DBusUInt32 v: WriteUInt32(v.Value); break;
            case DBusInt64 v: WriteInt64(v.Value); break;
            case DBusUInt64 v: WriteUInt64(v.Value); break;
            case DBusDouble v: WriteDouble(v.Value); break;
            case DBusString v: WriteString(v.Value); break;
            case DBusObjectPath v: WriteObjectPath(v.Value); break;
            case DBusSignatureValue v: WriteSignature(v.Value); break;
            case DBusArray v: WriteArray(v); break;
            case DBusByteArray v: WriteByteArray(v.Value.Span); break;
            case DBusStruct v: WriteStruct(v); break;
            case DBusDictEntry v: WriteDictEntry(v); break;
            case DBusVariant v: WriteVariant(v); break;
            default: throw new ArgumentException($"cannot marshal {value.GetType().Name}", nameof(value));
        }
    }

    /// <summary>u32 byte length (not counting the padding after it), padding to the element alignment, elements.</summary>
    public void WriteArray(DBusArray array)
    {
        var lengthOffset = BeginArray(DBusType.AlignmentOf(array.ElementSignature[0]));
        var start = Position;
        foreach (var item in array.Items)
        {
            WriteValue(item);
        }

        EndArray(lengthOffset, start);
    }

    public void WriteByteArray(ReadOnlySpan<byte> bytes)
    {
        var lengthOffset = BeginArray(1);
        var start = Position;
        bytes.CopyTo(Reserve(bytes.Length));
        EndArray(lengthOffset, start);
    }

    public void WriteStruct(DBusStruct value)
    {
        Align(8);
        foreach (var field in value.Fields)
        {
            WriteValue(field);
        }
    }

    public void WriteDictEntry(DBusDictEntry entry)
    {
        Align(8);
        WriteValue(entry.Key);
        WriteValue(entry.Value);
    }

    public void WriteVariant(DBusVariant variant)
    {
        WriteSignature(variant.Value.Signature);
        WriteValue(variant.Value);
    }

    private int BeginArray(int elementAlignment)
    {
        WriteUInt32(0);
        var lengthOffset = Position - 4;
        Align(elementAlignment);
        return lengthOffset;
    }

    private void EndArray(int lengthOffset, int start)
    {
        var length = Position - start;
        if (length > DBusLimits.MaxArrayBytes)
        {
            throw new DBusProtocolException($"array of {length} bytes exceeds the {DBusLimits.MaxArrayBytes}-byte limit");
        }

        PatchUInt32(lengthOffset, (uint)length);
    }
}

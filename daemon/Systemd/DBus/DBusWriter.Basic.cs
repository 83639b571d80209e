using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed partial class DBusWriter
{
    public void WriteByte(byte value) => Reserve(1)[0] = value;

    /// <summary>Booleans travel as a u32 that is 0 or 1.</summary>
    public void WriteBoolean(bool value) => WriteUInt32(value ? 1u : 0u);

    public void WriteInt16(short value)
    {
        Align(2);
        BinaryPrimitives.WriteInt16LittleEndian(Reserve(2), value);
    }

    public void WriteUInt16(ushort value)
    {
        Align(2);
        BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), value);
    }

    public void WriteInt32(int value)
    {
        Align(4);
        BinaryPrimitives.WriteInt32LittleEndian(Reserve(4), value);
    }

    public void WriteUInt32(uint value)
    {
        Align(4);
        BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);
    }

    public void WriteInt64(long value)
    {
        Align(8);
        BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), value);
    }

    public void WriteUInt64(ulong value)
    {
        Align(8);
        BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);
    }

    public void WriteDouble(double value)
    {
        Align(8);
        BinaryPrimitives.WriteDoubleLittleEndian(Reserve(8), value);
    }

    /// <summary>u32 byte length, UTF-8 bytes, NUL.</summary>
    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteUInt32((uint)length);
        var span = Reserve(length + 1);
        Encoding.UTF8.GetBytes(value, span);
        span[length] = 0;
    }

    public void WriteObjectPath(string value) => WriteString(value);

    /// <summary>u8 length, ASCII, NUL; validated so a bad signature never reaches the wire.</summary>
    public void WriteSignature(string value)
    {
        DBusSignature.Parse(value);
        WriteByte((byte)value.Length);
        var span = Reserve(value.Length + 1);
        Encoding.ASCII.GetBytes(value, span);
        span[value.Length] = 0;
    }
}

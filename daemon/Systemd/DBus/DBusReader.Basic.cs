using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed partial class DBusReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public byte ReadByte() => Take(1, "byte")[0];

    public bool ReadBoolean()
    {
        var offset = Position;
        return ReadUInt32() switch
        {
            0 => false,
            1 => true,
            var other => throw new DBusProtocolException($"boolean must be 0 or 1, got {other}", offset),
        };
    }

    public short ReadInt16() => (short)ReadUInt16();

    public ushort ReadUInt16()
    {
        Align(2);
        var span = Take(2, "16-bit integer");
        return _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(span) : BinaryPrimitives.ReadUInt16LittleEndian(span);
    }

    public int ReadInt32() => (int)ReadUInt32();

    public uint ReadUInt32()
    {
        Align(4);
        var span = Take(4, "32-bit integer");
        return _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(span) : BinaryPrimitives.ReadUInt32LittleEndian(span);
    }

    public long ReadInt64() => (long)ReadUInt64();

    public ulong ReadUInt64()
    {
        Align(8);
        var span = Take(8, "64-bit integer");
        return _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(span) : BinaryPrimitives.ReadUInt64LittleEndian(span);
    }

    public double ReadDouble() => BitConverter.UInt64BitsToDouble(ReadUInt64());

    public string ReadString()
    {
        var lengthOffset = Position;
        var length = ReadUInt32();
        if (length > (uint)(End - Position))
        {
            throw new DBusProtocolException($"truncated: string of {length} bytes but only {End - Position} remain", lengthOffset);
        }

        return DecodeNulTerminated((int)length, "string");
    }

    public string ReadObjectPath()
    {
        var offset = Position;
        var path = ReadString();
        return DBusObjectPath.IsValid(path) ? path : throw new DBusProtocolException($"invalid object path \"{path}\"", offset);
    }

    public string ReadSignature()
    {
        var offset = Position;
        var signature = DecodeNulTerminated(ReadByte(), "signature");
        try
        {
            DBusSignature.Parse(signature);
        }
        catch (DBusProtocolException e)
        {
            throw new DBusProtocolException(e.Message, offset);
        }

        return signature;
    }

    private string DecodeNulTerminated(int length, string what)
    {
        var start = Position;
        var bytes = Take(length + 1, what);
        if (bytes[length] != 0)
        {
            throw new DBusProtocolException($"{what} is not NUL-terminated", start + length);
        }

        var content = bytes[..length];
        var nul = content.IndexOf((byte)0);
        if (nul >= 0)
        {
            throw new DBusProtocolException($"{what} contains NUL", start + nul);
        }

        try
        {
            return StrictUtf8.GetString(content);
        }
        catch (DecoderFallbackException)
        {
            throw new DBusProtocolException($"{what} is not valid UTF-8", start);
        }
    }
}

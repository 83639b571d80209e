using System.Buffers.Binary;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// Marshals values little-endian into a growing buffer. Offsets are counted from the start of the buffer, which is
/// the start of the message, so alignment padding is what the specification requires.
/// </summary>
internal sealed partial class DBusWriter
{
    private byte[] _buffer;

    public DBusWriter(int initialCapacity = 256)
    {
        _buffer = new byte[Math.Max(16, initialCapacity)];
    }

    public int Position { get; private set; }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, Position);

    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <summary>Writes zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public void Align(int alignment)
    {
        var padding = (alignment - (Position % alignment)) % alignment;
        Reserve(padding).Clear();
    }

    /// <summary>Overwrites a previously written u32, e.g. a length known only after the contents are written.</summary>
    public void PatchUInt32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(offset, 4), value);

    private Span<byte> Reserve(int count)
    {
        var required = (long)Position + count;
        if (required > DBusLimits.MaxMessageBytes)
        {
            throw new DBusProtocolException($"message would exceed the {DBusLimits.MaxMessageBytes}-byte limit");
        }

        if (required > _buffer.Length)
        {
            Array.Resize(ref _buffer, (int)Math.Min(DBusLimits.MaxMessageBytes, Math.Max(required, _buffer.Length * 2L)));
        }

        var span = _buffer.AsSpan(Position, count);
        Position += count;
        return span;
    }
}

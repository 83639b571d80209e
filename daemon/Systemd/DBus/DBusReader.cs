namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// Unmarshals values from one message in either byte order. Offsets are counted from the start of the message;
/// every length is checked against the bytes that are really there before anything is allocated, and every
/// violation is a <see cref="DBusProtocolException"/> carrying the byte offset.
/// </summary>
internal sealed partial class DBusReader
{
    private readonly ReadOnlyMemory<byte> _data;
    private readonly bool _bigEndian;

    /// <param name="data">The whole message (offset 0 is the message start, which alignment is counted from).</param>
    /// <param name="bigEndian">True when the message's first byte was 'B'.</param>
    /// <param name="position">Where to start reading.</param>
    /// <param name="end">Where the readable region ends; defaults to the end of <paramref name="data"/>.</param>
    public DBusReader(ReadOnlyMemory<byte> data, bool bigEndian, int position = 0, int? end = null)
    {
        _data = data;
        _bigEndian = bigEndian;
        Position = position;
        End = end ?? data.Length;
    }

    public int Position { get; private set; }

    public int End { get; }

    /// <summary>Skips the zero padding up to the next multiple of <paramref name="alignment"/>; non-zero padding is an error.</summary>
    public void Align(int alignment)
    {
        var padding = (alignment - (Position % alignment)) % alignment;
        var bytes = Take(padding, "alignment padding");
        foreach (var b in bytes)
        {
            if (b != 0)
            {
                throw new DBusProtocolException("non-zero alignment padding", Position - padding);
            }
        }
    }

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count < 0 || count > End - Position)
        {
            throw new DBusProtocolException($"truncated: {what} needs {count} bytes but only {End - Position} remain", Position);
        }

        var span = _data.Span.Slice(Position, count);
        Position += count;
        return span;
    }

    private ReadOnlyMemory<byte> TakeMemory(int count, string what)
    {
        var start = Position;
        Take(count, what);
        return _data.Slice(start, count);
    }
}

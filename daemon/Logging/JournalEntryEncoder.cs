using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>
/// Writes the fields of one journal entry in the native protocol's datagram format into a buffer writer:
/// <c>NAME=value\n</c> when the value has no newline, otherwise <c>NAME\n</c>, the value's length as a
/// little-endian u64, the raw value bytes and <c>\n</c> (the only form that can carry newlines or binary data).
/// </summary>
internal readonly struct JournalEntryEncoder(IBufferWriter<byte> output)
{
    private const byte NewLine = (byte)'\n';

    /// <summary>Adds a field whose value is text, encoded as UTF-8.</summary>
    /// <exception cref="ArgumentException">The name is not a valid journal field name.</exception>
    public void AddField(string name, ReadOnlySpan<char> value)
    {
        var valueLength = Encoding.UTF8.GetByteCount(value);
        var field = BeginField(name, valueLength, value.Contains('\n'), out var valueBytes);
        Encoding.UTF8.GetBytes(value, valueBytes);
        output.Advance(field);
    }

    /// <summary>Adds a field whose value is raw bytes.</summary>
    /// <exception cref="ArgumentException">The name is not a valid journal field name.</exception>
    public void AddField(string name, ReadOnlySpan<byte> value)
    {
        var field = BeginField(name, value.Length, value.Contains(NewLine), out var valueBytes);
        value.CopyTo(valueBytes);
        output.Advance(field);
    }

    // Reserves room for the whole field, writes everything but the value, and returns the field's length
    // (to pass to Advance once the caller has filled valueBytes).
    private int BeginField(string name, int valueLength, bool binary, out Span<byte> valueBytes)
    {
        if (!JournalFieldName.IsValid(name))
        {
            throw new ArgumentException($"'{name}' is not a valid journal field name (1-{JournalFieldName.MaxLength} characters of A-Z, 0-9 and _, starting with a letter)", nameof(name));
        }

        var headerLength = name.Length + 1 + (binary ? sizeof(ulong) : 0);
        var fieldLength = headerLength + valueLength + 1;
        var span = output.GetSpan(fieldLength);
        Encoding.ASCII.GetBytes(name, span);
        if (binary)
        {
            span[name.Length] = NewLine;
            BinaryPrimitives.WriteUInt64LittleEndian(span[(name.Length + 1)..], (ulong)valueLength);
        }
        else
        {
            span[name.Length] = (byte)'=';
        }

        span[fieldLength - 1] = NewLine;
        valueBytes = span.Slice(headerLength, valueLength);
        return fieldLength;
    }
}

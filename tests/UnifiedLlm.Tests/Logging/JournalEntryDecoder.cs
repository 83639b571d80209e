using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Tests.Logging;

/// <summary>
/// Test-side reader of the journal native protocol (as journald parses it): <c>NAME=value\n</c> or
/// <c>NAME\n</c> + u64 LE length + bytes + <c>\n</c>. Strict: anything malformed throws, naming the offset.
/// </summary>
internal static class JournalEntryDecoder
{
    public static JournalEntry Decode(ReadOnlySpan<byte> payload)
    {
        var fields = new List<KeyValuePair<string, byte[]>>();
        var position = 0;
        while (position < payload.Length)
        {
            var rest = payload[position..];
            var end = rest.IndexOfAny((byte)'=', (byte)'\n');
            if (end <= 0)
            {
                throw new FormatException($"field at offset {position} has no name or no '=' / newline after it");
            }

            var name = Encoding.ASCII.GetString(rest[..end]);
            if (rest[end] == (byte)'=')
            {
                var valueLength = rest[(end + 1)..].IndexOf((byte)'\n');
                if (valueLength < 0)
                {
                    throw new FormatException($"field {name} at offset {position} is not terminated by a newline");
                }

                fields.Add(new(name, rest.Slice(end + 1, valueLength).ToArray()));
                position += end + 1 + valueLength + 1;
            }
            else
            {
                if (rest.Length < end + 1 + 8)
                {
                    throw new FormatException($"binary field {name} at offset {position} is cut before its length");
                }

                var length = BinaryPrimitives.ReadUInt64LittleEndian(rest[(end + 1)..]);
                var valueStart = end + 1 + 8;
                if ((ulong)(rest.Length - valueStart) < length + 1 || rest[valueStart + (int)length] != (byte)'\n')
                {
                    throw new FormatException($"binary field {name} at offset {position} (length {length}) is cut or not followed by a newline");
                }

                fields.Add(new(name, rest.Slice(valueStart, (int)length).ToArray()));
                position += valueStart + (int)length + 1;
            }
        }

        return new JournalEntry(fields);
    }
}

internal sealed record JournalEntry(IReadOnlyList<KeyValuePair<string, byte[]>> Fields)
{
    public IEnumerable<string> Names => Fields.Select(f => f.Key);

    /// <summary>The UTF-8 text of the only field called <paramref name="name"/>.</summary>
    public string Text(string name) => Encoding.UTF8.GetString(Fields.Single(f => f.Key == name).Value);

    public bool Has(string name) => Fields.Any(f => f.Key == name);
}

using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// Writes a GGUF v3 file. Tensors added without data are left as holes (the stream is extended by seeking), so test
/// fixtures describing multi-gigabyte models stay sparse on disk while remaining valid, readable GGUF files.
/// </summary>
internal sealed class GgufWriter
{
    private readonly List<(string Key, GgufValue Value)> _entries = [];
    private readonly List<(string Name, GgmlType Type, ulong[] Dimensions, ReadOnlyMemory<byte>? Data, ulong Size)> _tensors = [];

    public uint Alignment { get; private set; } = GgufFile.DefaultAlignment;

    public void Add(string key, GgufValue value)
    {
        if (_entries.Any(e => e.Key == key))
        {
            throw new ArgumentException($"metadata key '{key}' added twice", nameof(key));
        }

        if (key == "general.alignment")
        {
            Alignment = value.Value is uint a && a != 0 && (a & (a - 1)) == 0
                ? a
                : throw new ArgumentException("general.alignment must be a UInt32 power of two", nameof(value));
        }

        _entries.Add((key, value));
    }

    /// <summary>Adds a tensor; <paramref name="data"/> must be exactly the tensor's size, or null to leave a hole.</summary>
    public void AddTensor(string name, GgmlType type, IReadOnlyList<ulong> dimensions, ReadOnlyMemory<byte>? data)
    {
        var size = GgmlTypeTraits.TensorBytes(type, dimensions)
            ?? throw new ArgumentException($"tensor '{name}' is too large", nameof(dimensions));
        if (data is { } bytes && (ulong)bytes.Length != size)
        {
            throw new ArgumentException($"tensor '{name}' needs {size} bytes of data, got {bytes.Length}", nameof(data));
        }

        _tensors.Add((name, type, dimensions.ToArray(), data, size));
    }

    public void WriteFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        WriteTo(stream);
    }

    /// <summary>Writes the whole file from the stream's current position; the stream must be seekable when any tensor has no data.</summary>
    public void WriteTo(Stream stream)
    {
        using (var header = new MemoryStream())
        {
            WriteHeader(header);
            header.Write(new byte[Padding((ulong)header.Length, Alignment)]);
            header.WriteTo(stream);
        }

        foreach (var tensor in _tensors)
        {
            if (tensor.Data is { } data)
            {
                stream.Write(data.Span);
                stream.Write(new byte[Padding(tensor.Size, Alignment)]);
            }
            else
            {
                stream.Seek((long)(tensor.Size + Padding(tensor.Size, Alignment)), SeekOrigin.Current);
            }
        }

        if (stream.Position > stream.Length)
        {
            stream.SetLength(stream.Position);
        }
    }

    private void WriteHeader(Stream s)
    {
        WriteUInt32(s, GgufReader.Magic);
        WriteUInt32(s, 3);
        WriteUInt64(s, (ulong)_tensors.Count);
        WriteUInt64(s, (ulong)_entries.Count);
        foreach (var (key, value) in _entries)
        {
            WriteString(s, key);
            WriteUInt32(s, (uint)value.Type);
            WriteValue(s, value.Type, value.Value);
        }

        var offset = 0UL;
        foreach (var tensor in _tensors)
        {
            WriteString(s, tensor.Name);
            WriteUInt32(s, (uint)tensor.Dimensions.Length);
            foreach (var dimension in tensor.Dimensions)
            {
                WriteUInt64(s, dimension);
            }

            WriteUInt32(s, (uint)tensor.Type);
            WriteUInt64(s, offset);
            offset += tensor.Size + Padding(tensor.Size, Alignment);
        }
    }

    private static void WriteValue(Stream s, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: s.WriteByte((byte)value); break;
            case GgufValueType.Int8: s.WriteByte(unchecked((byte)(sbyte)value)); break;
            case GgufValueType.UInt16: WriteBytes(s, 2, b => BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)value)); break;
            case GgufValueType.Int16: WriteBytes(s, 2, b => BinaryPrimitives.WriteInt16LittleEndian(b, (short)value)); break;
            case GgufValueType.UInt32: WriteUInt32(s, (uint)value); break;
            case GgufValueType.Int32: WriteBytes(s, 4, b => BinaryPrimitives.WriteInt32LittleEndian(b, (int)value)); break;
            case GgufValueType.Float32: WriteBytes(s, 4, b => BinaryPrimitives.WriteSingleLittleEndian(b, (float)value)); break;
            case GgufValueType.Bool: s.WriteByte((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(s, (string)value); break;
            case GgufValueType.UInt64: WriteUInt64(s, (ulong)value); break;
            case GgufValueType.Int64: WriteBytes(s, 8, b => BinaryPrimitives.WriteInt64LittleEndian(b, (long)value)); break;
            case GgufValueType.Float64: WriteBytes(s, 8, b => BinaryPrimitives.WriteDoubleLittleEndian(b, (double)value)); break;
            default:
                var array = (GgufArray)value;
                WriteUInt32(s, (uint)array.ElementType);
                WriteUInt64(s, (ulong)array.Count);
                foreach (var item in array.Items)
                {
                    WriteValue(s, array.ElementType, item);
                }

                break;
        }
    }

    private static void WriteBytes(Stream s, int count, SpanAction write)
    {
        Span<byte> buffer = stackalloc byte[8];
        write(buffer[..count]);
        s.Write(buffer[..count]);
    }

    private delegate void SpanAction(Span<byte> buffer);

    private static void WriteUInt32(Stream s, uint value) => WriteBytes(s, 4, b => BinaryPrimitives.WriteUInt32LittleEndian(b, value));

    private static void WriteUInt64(Stream s, ulong value) => WriteBytes(s, 8, b => BinaryPrimitives.WriteUInt64LittleEndian(b, value));

    private static void WriteString(Stream s, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        WriteUInt64(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    private static uint Padding(ulong size, uint alignment) => (uint)(GgufReader.AlignUp(size, alignment) - size);
}

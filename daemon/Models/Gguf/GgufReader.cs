using System.Buffers.Binary;

namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// Reads a GGUF (v2/v3, little-endian) header, metadata and tensor infos without touching tensor data.
/// Every count and length is checked against the bytes left in the file, so any malformed input ends in a
/// <see cref="GgufFormatException"/> naming the offset, after work proportional to the file's size.
/// </summary>
internal static class GgufReader
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    public const int MaxKeyBytes = 64 * 1024;
    public const int MaxStringBytes = 16 * 1024 * 1024;
    public const int MaxArrayItems = 16 * 1024 * 1024;
    public const int MaxArrayDepth = 8;
    public const int MaxTensorCount = 1024 * 1024;
    public const int MaxKeyValueCount = 1024 * 1024;
    public const int MaxDimensions = 4;

    /// <summary>ggml keeps tensor names in a 64-byte buffer including the terminator.</summary>
    public const int MaxTensorNameBytes = 63;

    private const int MinKeyValueBytes = 8 + 4;
    private const int MinTensorInfoBytes = 8 + 4 + 4 + 8;

    public static GgufFile Read(string path, CancellationToken cancellationToken)
    {
        using var stream = RegularFile.OpenRead(path);
        return Read(stream, path, cancellationToken);
    }

    /// <summary>Reads from the stream's current position; the stream must be seekable (its length bounds every check).</summary>
    public static GgufFile Read(Stream stream, string source, CancellationToken cancellationToken)
    {
        if (!stream.CanSeek)
        {
            throw new ArgumentException("the GGUF reader needs a seekable stream", nameof(stream));
        }

        var reader = new GgufByteReader(stream, source);
        var version = ReadPreamble(reader);

        var countsAt = reader.Position;
        var tensorCount = reader.ReadUInt64("tensor count");
        var keyValueCount = reader.ReadUInt64("metadata key/value count");
        CheckCount(reader, countsAt, tensorCount, MaxTensorCount, MinTensorInfoBytes, "tensor count");
        CheckCount(reader, countsAt + 8, keyValueCount, MaxKeyValueCount, MinKeyValueBytes, "metadata key/value count");

        var entries = new List<GgufMetadataEntry>((int)keyValueCount);
        for (var i = 0UL; i < keyValueCount; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            entries.Add(ReadEntry(reader));
        }

        var metadata = new GgufMetadata(source, entries);
        var alignment = ReadAlignment(metadata, source);

        var infos = new List<(GgufTensorInfo Info, long At)>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0UL; i < tensorCount; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var at = reader.Position;
            var info = ReadTensorInfo(reader);
            if (!names.Add(info.Name))
            {
                throw reader.Error(at, $"duplicate tensor name '{info.Name}'");
            }

            infos.Add((info, at));
        }

        var dataOffset = Align(reader.Position, alignment);
        CheckTensorPlacement(reader, infos, alignment, dataOffset);
        return new GgufFile(source, version, metadata, infos.Select(t => t.Info).ToArray(), alignment, dataOffset, reader.Length);
    }

    private static uint ReadPreamble(GgufByteReader reader)
    {
        var magic = reader.ReadUInt32("magic");
        if (magic != Magic)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, magic);
            throw reader.Error(0, $"not a GGUF file: magic is {Convert.ToHexString(bytes)}, expected 47475546 ('GGUF')");
        }

        var version = reader.ReadUInt32("version");
        if (version is 2 or 3)
        {
            return version;
        }

        var swapped = BinaryPrimitives.ReverseEndianness(version);
        throw version switch
        {
            1 => reader.Error(4, "GGUF version 1 is not supported (only versions 2 and 3 are)"),
            _ when swapped is >= 1 and <= 3 => reader.Error(4, $"big-endian GGUF (version {swapped} byte-swapped) is not supported; convert the model to little-endian"),
            _ => reader.Error(4, $"unsupported GGUF version {version} (only versions 2 and 3 are supported)"),
        };
    }

    private static void CheckCount(GgufByteReader reader, long at, ulong count, int max, int minBytesEach, string what)
    {
        if (count > (ulong)max)
        {
            throw reader.Error(at, $"{what} {count} exceeds the limit of {max}");
        }

        if (count * (ulong)minBytesEach > (ulong)reader.Remaining)
        {
            throw reader.Error(at, $"{what} {count} needs at least {count * (ulong)minBytesEach} bytes but only {reader.Remaining} remain");
        }
    }

    private static GgufMetadataEntry ReadEntry(GgufByteReader reader)
    {
        var at = reader.Position;
        var key = reader.ReadString("metadata key", MaxKeyBytes);
        var type = ReadValueType(reader, $"type of '{key}'");
        var value = ReadValue(reader, type, key, depth: 0);
        return new GgufMetadataEntry(key, value, at);
    }

    private static GgufValueType ReadValueType(GgufByteReader reader, string what)
    {
        var at = reader.Position;
        var code = reader.ReadUInt32(what);
        if (code > (uint)GgufValueType.Float64)
        {
            throw reader.Error(at, $"{what}: unknown value type {code}");
        }

        return (GgufValueType)code;
    }

    private static GgufValue ReadValue(GgufByteReader reader, GgufValueType type, string key, int depth) => type switch
    {
        GgufValueType.UInt8 => GgufValue.FromUInt8(reader.ReadUInt8(key)),
        GgufValueType.Int8 => GgufValue.FromInt8((sbyte)reader.ReadUInt8(key)),
        GgufValueType.UInt16 => GgufValue.FromUInt16(reader.ReadUInt16(key)),
        GgufValueType.Int16 => GgufValue.FromInt16((short)reader.ReadUInt16(key)),
        GgufValueType.UInt32 => GgufValue.FromUInt32(reader.ReadUInt32(key)),
        GgufValueType.Int32 => GgufValue.FromInt32((int)reader.ReadUInt32(key)),
        GgufValueType.Float32 => GgufValue.FromFloat32(reader.ReadFloat32(key)),
        GgufValueType.Bool => GgufValue.FromBool(ReadBool(reader, key)),
        GgufValueType.String => GgufValue.FromString(reader.ReadString(key, MaxStringBytes)),
        GgufValueType.UInt64 => GgufValue.FromUInt64(reader.ReadUInt64(key)),
        GgufValueType.Int64 => GgufValue.FromInt64((long)reader.ReadUInt64(key)),
        GgufValueType.Float64 => GgufValue.FromFloat64(reader.ReadFloat64(key)),
        _ => GgufValue.FromArray(ReadArray(reader, key, depth)),
    };

    private static bool ReadBool(GgufByteReader reader, string what)
    {
        var at = reader.Position;
        return reader.ReadUInt8(what) switch
        {
            0 => false,
            1 => true,
            var other => throw reader.Error(at, $"{what}: bool byte is {other}, expected 0 or 1"),
        };
    }

    private static GgufArray ReadArray(GgufByteReader reader, string key, int depth)
    {
        var at = reader.Position;
        if (depth >= MaxArrayDepth)
        {
            throw reader.Error(at, $"'{key}': arrays nested deeper than {MaxArrayDepth} levels");
        }

        var elementType = ReadValueType(reader, $"element type of '{key}'");
        var count = reader.ReadUInt64($"length of '{key}'");
        CheckCount(reader, at + 4, count, MaxArrayItems, MinEncodedSize(elementType), $"'{key}' array length");
        var n = (int)count;
        Array items = elementType switch
        {
            GgufValueType.UInt8 => Fill(new byte[n], _ => reader.ReadUInt8(key)),
            GgufValueType.Int8 => Fill(new sbyte[n], _ => (sbyte)reader.ReadUInt8(key)),
            GgufValueType.UInt16 => Fill(new ushort[n], _ => reader.ReadUInt16(key)),
            GgufValueType.Int16 => Fill(new short[n], _ => (short)reader.ReadUInt16(key)),
            GgufValueType.UInt32 => Fill(new uint[n], _ => reader.ReadUInt32(key)),
            GgufValueType.Int32 => Fill(new int[n], _ => (int)reader.ReadUInt32(key)),
            GgufValueType.Float32 => Fill(new float[n], _ => reader.ReadFloat32(key)),
            GgufValueType.Bool => Fill(new bool[n], _ => ReadBool(reader, key)),
            GgufValueType.String => Fill(new string[n], _ => reader.ReadString(key, MaxStringBytes)),
            GgufValueType.UInt64 => Fill(new ulong[n], _ => reader.ReadUInt64(key)),
            GgufValueType.Int64 => Fill(new long[n], _ => (long)reader.ReadUInt64(key)),
            GgufValueType.Float64 => Fill(new double[n], _ => reader.ReadFloat64(key)),
            _ => Fill(new GgufArray[n], _ => ReadArray(reader, key, depth + 1)),
        };
        return new GgufArray(elementType, items);
    }

    private static T[] Fill<T>(T[] items, Func<int, T> read)
    {
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = read(i);
        }

        return items;
    }

    /// <summary>The fewest bytes one element of this type can occupy, used to reject counts the file cannot hold.</summary>
    private static int MinEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.String or GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 4 + 8,
    };

    private static uint ReadAlignment(GgufMetadata metadata, string source)
    {
        var entry = metadata.Entries.FirstOrDefault(e => e.Key == "general.alignment");
        if (entry is null)
        {
            return GgufFile.DefaultAlignment;
        }

        if (entry.Value.Value is not uint alignment)
        {
            throw new GgufFormatException(source, entry.Offset, $"general.alignment is {entry.Value.Type}, expected UInt32");
        }

        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new GgufFormatException(source, entry.Offset, $"general.alignment {alignment} is not a power of two");
        }

        return alignment;
    }

    private static GgufTensorInfo ReadTensorInfo(GgufByteReader reader)
    {
        var name = reader.ReadString("tensor name", MaxTensorNameBytes);
        var dimsAt = reader.Position;
        var dimensionCount = reader.ReadUInt32($"dimension count of '{name}'");
        if (dimensionCount > MaxDimensions)
        {
            throw reader.Error(dimsAt, $"tensor '{name}' has {dimensionCount} dimensions, at most {MaxDimensions} are allowed");
        }

        var dimensions = new ulong[dimensionCount];
        for (var d = 0; d < dimensions.Length; d++)
        {
            var at = reader.Position;
            dimensions[d] = reader.ReadUInt64($"dimension {d} of '{name}'");
            if (dimensions[d] > long.MaxValue)
            {
                throw reader.Error(at, $"tensor '{name}' dimension {d} is {dimensions[d]}, larger than 2^63-1");
            }
        }

        var typeAt = reader.Position;
        var typeCode = reader.ReadUInt32($"type of '{name}'");
        var type = (GgmlType)typeCode;
        if (!GgmlTypeTraits.IsKnown(type))
        {
            throw reader.Error(typeAt, $"tensor '{name}' has unknown ggml type {typeCode}");
        }

        var blockSize = (ulong)GgmlTypeTraits.BlockSize(type);
        if (dimensions.Length > 0 && dimensions[0] % blockSize != 0)
        {
            throw reader.Error(dimsAt, $"tensor '{name}' row length {dimensions[0]} is not a multiple of the {type} block size {blockSize}");
        }

        var size = GgmlTypeTraits.TensorBytes(type, dimensions)
            ?? throw reader.Error(dimsAt, $"tensor '{name}' size overflows ({string.Join(" x ", dimensions)} of {type})");
        var offset = reader.ReadUInt64($"data offset of '{name}'");
        return new GgufTensorInfo(name, dimensions, type, offset, size);
    }

    private static void CheckTensorPlacement(GgufByteReader reader, List<(GgufTensorInfo Info, long At)> infos, uint alignment, long dataOffset)
    {
        if (infos.Count > 0 && dataOffset > reader.Length)
        {
            throw reader.Error(reader.Position, $"data section would start at {dataOffset}, past the end of the file ({reader.Length} bytes)");
        }

        var dataBytes = (ulong)Math.Max(0, reader.Length - dataOffset);
        var expected = 0UL;
        foreach (var (info, at) in infos)
        {
            if (info.Offset != expected)
            {
                throw reader.Error(at, $"tensor '{info.Name}' has data offset {info.Offset}, expected {expected} (tensors must be contiguous and {alignment}-byte aligned)");
            }

            if (expected > dataBytes || info.ByteSize > dataBytes - expected)
            {
                throw reader.Error(at, $"tensor '{info.Name}' data ({info.ByteSize} bytes at data offset {info.Offset}) extends past the end of the file ({dataBytes} data bytes)");
            }

            expected += AlignUp(info.ByteSize, alignment);
        }
    }

    public static long Align(long offset, uint alignment) => (long)AlignUp((ulong)offset, alignment);

    public static ulong AlignUp(ulong value, uint alignment) => (value + alignment - 1) / alignment * alignment;
}

using System.Buffers.Binary;
using System.Text.Json;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>
/// Reads the header of a .safetensors file: an 8-byte little-endian length N, then N bytes of JSON mapping each tensor
/// name to its dtype, shape and data offsets, plus optional string metadata under <c>__metadata__</c>. Tensor data is
/// never read. Everything is checked before it is trusted: N against the file and a cap, every dtype, every shape
/// against its byte range, and the ranges must tile the data area exactly (no overlap, no gap, nothing past the end).
/// Any problem is a <see cref="SafeTensorsFormatException"/> naming the file and the byte offset.
/// </summary>
internal static class SafeTensorsHeaderReader
{
    /// <summary>The largest header accepted; real ones are well under 10 MB even for models with tens of thousands of tensors.</summary>
    public const ulong MaxHeaderBytes = 100 * 1024 * 1024;

    private const int LengthPrefixBytes = 8;
    private const int MaxTensors = 200_000;
    private const int MaxRank = 16;
    private const string MetadataKey = "__metadata__";

    public static SafeTensorsHeader Read(string path, CancellationToken cancellationToken)
    {
        FileStream stream;
        try
        {
            stream = RegularFile.OpenRead(path);
        }
        catch (GgufFormatException e)
        {
            throw new SafeTensorsFormatException(path, null, e.Problem);
        }

        using (stream)
        {
            return Read(stream, path, cancellationToken);
        }
    }

    public static SafeTensorsHeader Read(Stream stream, string file, CancellationToken cancellationToken)
    {
        var fileBytes = stream.Length;
        if (fileBytes < LengthPrefixBytes)
        {
            throw new SafeTensorsFormatException(file, 0, $"the file is {fileBytes} bytes, too short for the 8-byte header length");
        }

        Span<byte> prefix = stackalloc byte[LengthPrefixBytes];
        stream.ReadExactly(prefix);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
        {
            throw new SafeTensorsFormatException(file, 0, $"header length {headerLength} is larger than the {MaxHeaderBytes}-byte limit");
        }

        if (headerLength > (ulong)(fileBytes - LengthPrefixBytes))
        {
            throw new SafeTensorsFormatException(file, 0, $"header length {headerLength} runs past the end of the {fileBytes}-byte file");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var json = new byte[headerLength];
        stream.ReadExactly(json);
        var dataOffset = LengthPrefixBytes + (long)headerLength;
        var (entries, metadata) = Parse(json, file);
        var tensors = CheckLayout(entries, file, dataOffset, (ulong)(fileBytes - dataOffset));
        return new SafeTensorsHeader(file, fileBytes, dataOffset, tensors, metadata);
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata) Parse(byte[] json, string file)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            Expect(ref reader, JsonTokenType.StartObject, file, "the header must be a JSON object");
            while (Next(ref reader, file) != JsonTokenType.EndObject)
            {
                var at = Offset(reader);
                var name = reader.GetString()!;
                if (!names.Add(name))
                {
                    throw new SafeTensorsFormatException(file, at, $"'{name}' appears twice");
                }

                if (name == MetadataKey)
                {
                    ReadMetadata(ref reader, file, metadata);
                    continue;
                }

                if (entries.Count == MaxTensors)
                {
                    throw new SafeTensorsFormatException(file, at, $"more than {MaxTensors} tensors");
                }

                entries.Add(ReadTensor(ref reader, file, name, at));
            }

            if (reader.Read())
            {
                throw new SafeTensorsFormatException(file, Offset(reader), "unexpected content after the header object");
            }

            return (entries, metadata);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new SafeTensorsFormatException(file, LengthPrefixBytes + reader.BytesConsumed, $"the header is not valid JSON: {e.Message}");
        }
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, string file, Dictionary<string, string> metadata)
    {
        Expect(ref reader, JsonTokenType.StartObject, file, $"'{MetadataKey}' must be an object");
        while (Next(ref reader, file) != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            Expect(ref reader, JsonTokenType.String, file, $"'{MetadataKey}.{key}' must be a string");
            if (!metadata.TryAdd(key, reader.GetString()!))
            {
                throw new SafeTensorsFormatException(file, Offset(reader), $"'{MetadataKey}.{key}' appears twice");
            }
        }
    }

    private static Entry ReadTensor(ref Utf8JsonReader reader, string file, string name, long at)
    {
        Expect(ref reader, JsonTokenType.StartObject, file, $"tensor '{name}' must be an object");
        string? dtype = null;
        List<ulong>? shape = null;
        (ulong Begin, ulong End)? offsets = null;
        long offsetsAt = at;
        while (Next(ref reader, file) != JsonTokenType.EndObject)
        {
            var keyAt = Offset(reader);
            var key = reader.GetString()!;
            switch (key)
            {
                case "dtype" when dtype is null:
                    Expect(ref reader, JsonTokenType.String, file, $"tensor '{name}': dtype must be a string");
                    dtype = reader.GetString()!;
                    if (SafeTensorsDType.BitsOf(dtype) is null)
                    {
                        throw new SafeTensorsFormatException(file, Offset(reader), $"tensor '{name}': unknown dtype '{dtype}'");
                    }

                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(ref reader, file, $"tensor '{name}': shape", MaxRank);
                    break;
                case "data_offsets" when offsets is null:
                    offsetsAt = Offset(reader);
                    var pair = ReadIntegers(ref reader, file, $"tensor '{name}': data_offsets", 2);
                    offsets = pair.Count == 2
                        ? (pair[0], pair[1])
                        : throw new SafeTensorsFormatException(file, offsetsAt, $"tensor '{name}': data_offsets must have two entries, not {pair.Count}");
                    break;
                default:
                    throw new SafeTensorsFormatException(file, keyAt, $"tensor '{name}': unexpected or repeated key '{key}'");
            }
        }

        return new Entry(
            name,
            dtype ?? throw Missing(file, at, name, "dtype"),
            shape ?? throw Missing(file, at, name, "shape"),
            offsets ?? throw Missing(file, at, name, "data_offsets"),
            at,
            offsetsAt);
    }

    private static List<ulong> ReadIntegers(ref Utf8JsonReader reader, string file, string what, int max)
    {
        Expect(ref reader, JsonTokenType.StartArray, file, $"{what} must be an array");
        var values = new List<ulong>();
        while (Next(ref reader, file) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out var value))
            {
                throw new SafeTensorsFormatException(file, Offset(reader), $"{what} must hold non-negative integers");
            }

            if (values.Count == max)
            {
                throw new SafeTensorsFormatException(file, Offset(reader), $"{what} has more than {max} entries");
            }

            values.Add(value);
        }

        return values;
    }

    /// <summary>Checks each tensor's byte range against its dtype and shape, then that the ranges tile the data area.</summary>
    private static List<SafeTensorsTensor> CheckLayout(List<Entry> entries, string file, long dataOffset, ulong dataBytes)
    {
        foreach (var entry in entries)
        {
            var (begin, end) = entry.Offsets;
            if (begin > end || end > dataBytes)
            {
                throw new SafeTensorsFormatException(
                    file,
                    entry.OffsetsAt,
                    $"tensor '{entry.Name}': data_offsets [{begin}, {end}] are outside the {dataBytes}-byte data area");
            }

            var expected = ExpectedBytes(entry, file);
            if (end - begin != expected)
            {
                throw new SafeTensorsFormatException(
                    file,
                    entry.OffsetsAt,
                    $"tensor '{entry.Name}': {entry.DType} [{string.Join(", ", entry.Shape)}] needs {expected} bytes but data_offsets span {end - begin}");
            }
        }

        entries.Sort((a, b) => a.Offsets.CompareTo(b.Offsets));
        ulong covered = 0;
        Entry? previous = null;
        foreach (var entry in entries)
        {
            if (entry.Offsets.Begin != covered)
            {
                var problem = entry.Offsets.Begin < covered
                    ? $"overlaps tensor '{previous!.Name}'"
                    : $"leaves a gap of {entry.Offsets.Begin - covered} bytes after {(previous is null ? "the header" : $"tensor '{previous.Name}'")}";
                throw new SafeTensorsFormatException(file, entry.OffsetsAt, $"tensor '{entry.Name}' {problem}");
            }

            covered = entry.Offsets.End;
            previous = entry;
        }

        if (covered != dataBytes)
        {
            throw new SafeTensorsFormatException(
                file,
                dataOffset + (long)covered,
                $"the data area has {dataBytes} bytes but the tensors cover only {covered}");
        }

        return entries.Select(e => new SafeTensorsTensor(e.Name, e.DType, e.Shape, e.Offsets.Begin, e.Offsets.End)).ToList();
    }

    private static ulong ExpectedBytes(Entry entry, string file)
    {
        try
        {
            var elements = entry.Shape.Aggregate(1UL, (product, dim) => checked(product * dim));
            var bits = (ulong)SafeTensorsDType.BitsOf(entry.DType)!.Value;
            return checked((elements * bits) + 7) / 8;
        }
        catch (OverflowException)
        {
            throw new SafeTensorsFormatException(file, entry.At, $"tensor '{entry.Name}': shape [{string.Join(", ", entry.Shape)}] overflows a 64-bit size");
        }
    }

    private static JsonTokenType Next(ref Utf8JsonReader reader, string file) =>
        reader.Read() ? reader.TokenType : throw new SafeTensorsFormatException(file, LengthPrefixBytes + reader.BytesConsumed, "the header ends early");

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string file, string problem)
    {
        if (Next(ref reader, file) != type)
        {
            throw new SafeTensorsFormatException(file, Offset(reader), problem);
        }
    }

    private static long Offset(in Utf8JsonReader reader) => LengthPrefixBytes + reader.TokenStartIndex;

    private static SafeTensorsFormatException Missing(string file, long at, string name, string key) =>
        new(file, at, $"tensor '{name}' has no '{key}'");

    private sealed record Entry(string Name, string DType, List<ulong> Shape, (ulong Begin, ulong End) Offsets, long At, long OffsetsAt);
}

using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace UnifiedLlm.Tests.Models;

/// <summary>One tensor of a test SafeTensors file: name, dtype and shape; its bytes are laid out by <see cref="SafeTensorsWriter"/>.</summary>
internal sealed record TensorSpec(string Name, string DType, params ulong[] Shape);

/// <summary>
/// Writes SafeTensors files for tests the way the reference writer does: tensors laid out in the given order without
/// gaps, the JSON header padded with spaces to a multiple of 8, all tensor data zero. Files on disk are written sparse
/// (header, then the length set), so a model of real shape costs no disk space.
/// </summary>
internal static class SafeTensorsWriter
{
    private static readonly Dictionary<string, ulong> BytesPerElement = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1,
        ["U8"] = 1,
        ["I8"] = 1,
        ["F16"] = 2,
        ["BF16"] = 2,
        ["I32"] = 4,
        ["F32"] = 4,
        ["I64"] = 8,
        ["F64"] = 8,
    };

    public static ulong ByteSize(TensorSpec tensor) =>
        tensor.Shape.Aggregate(1UL, (product, dim) => product * dim) * BytesPerElement[tensor.DType];

    /// <summary>The 8-byte length and the padded JSON header.</summary>
    public static byte[] Header(IEnumerable<TensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is not null)
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            ulong offset = 0;
            foreach (var tensor in tensors)
            {
                var size = ByteSize(tensor);
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.DType);
                writer.WriteStartArray("shape");
                foreach (var dim in tensor.Shape)
                {
                    writer.WriteNumberValue(dim);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + size);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += size;
            }

            writer.WriteEndObject();
        }

        var padded = (json.Length + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.ToArray().CopyTo(header, 8);
        header.AsSpan(8 + (int)json.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>A whole file in memory, data zero-filled.</summary>
    public static byte[] ToBytes(IReadOnlyList<TensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = Header(tensors, metadata);
        var bytes = new byte[header.Length + (int)tensors.Aggregate(0UL, (sum, t) => sum + ByteSize(t))];
        header.CopyTo(bytes, 0);
        return bytes;
    }

    public static void Write(string path, IReadOnlyList<TensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = Header(tensors, metadata);
        using var file = File.Create(path);
        file.Write(header);
        file.SetLength(header.Length + (long)tensors.Aggregate(0UL, (sum, t) => sum + ByteSize(t)));
    }

    /// <summary>The shard index, written with a UTF-8 byte order mark as some tools do.</summary>
    public static void WriteIndex(string directory, IReadOnlyDictionary<string, string> weightMap)
    {
        var json = JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = weightMap });
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), json, Encoding.UTF8);
    }
}

using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

public sealed class GgufReaderTests
{
    private const uint TypeUInt32 = 4;
    private const uint TypeBool = 7;
    private const uint TypeString = 8;
    private const uint TypeArray = 9;

    [Fact]
    public void Minimal_v3_file_with_one_string_key()
    {
        var bytes = new ByteVector().Header(3, 0, 1).Str("general.architecture").U32(TypeString).Str("llama").ToArray();

        var file = GgufFixtures.Read(bytes);

        Assert.Equal(3u, file.Version);
        Assert.Equal("llama", file.Metadata.GetString("general.architecture"));
        Assert.Empty(file.Tensors);
        Assert.Equal(32u, file.Alignment);
    }

    [Fact]
    public void Minimal_v2_file_with_one_f32_tensor()
    {
        var v = new ByteVector().Header(2, 1, 0)
            .Str("w").U32(1).U64(2).U32(0).U64(0)
            .PadTo(32);
        var dataOffset = v.Length;
        var bytes = v.Raw(0, 0, 128, 63, 0, 0, 0, 64).ToArray();

        var file = GgufFixtures.Read(bytes);

        Assert.Equal(2u, file.Version);
        Assert.Equal(dataOffset, file.DataOffset);
        var tensor = Assert.Single(file.Tensors);
        Assert.Equal(("w", GgmlType.F32, 8UL, 2UL), (tensor.Name, tensor.Type, tensor.ByteSize, tensor.ElementCount));
    }

    public static TheoryData<string, byte[], long?, string> Malformed()
    {
        var data = new TheoryData<string, byte[], long?, string>
        {
            { "bad magic", new ByteVector().Raw((byte)'G', (byte)'G', (byte)'M', (byte)'L').U32(3).ToArray(), 0, "not a GGUF file" },
            { "version 1", new ByteVector().Header(1, 0, 0).ToArray(), 4, "version 1 is not supported" },
            { "big-endian", new ByteVector().Raw((byte)'G', (byte)'G', (byte)'U', (byte)'F').Raw(0, 0, 0, 3).U64(0).U64(0).ToArray(), 4, "big-endian GGUF (version 3 byte-swapped)" },
            { "version 4", new ByteVector().Header(4, 0, 0).ToArray(), 4, "unsupported GGUF version 4" },
            { "truncated counts", new ByteVector().Header(3, 0, 0).ToArray()[..20], 16, "truncated" },
            { "huge tensor count", new ByteVector().Header(3, 1UL << 40, 0).ToArray(), 8, "exceeds the limit" },
            { "kv count beyond file", new ByteVector().Header(3, 0, 1000).ToArray(), 16, "needs at least 12000 bytes" },
            { "huge key length", new ByteVector().Header(3, 0, 1).U64(1UL << 62).Raw(new byte[16]).ToArray(), 24, "metadata key length 4611686018427387904 exceeds" },
            { "key cut short", new ByteVector().Header(3, 0, 1).U64(100).Raw(1, 2, 3, 4).U32(0).ToArray(), 32, "needs 100 bytes but only 8 remain" },
            { "unknown value type", new ByteVector().Header(3, 0, 1).Str("k").U32(13).ToArray(), 33, "unknown value type 13" },
            { "bool byte 2", new ByteVector().Header(3, 0, 1).Str("k").U32(TypeBool).U8(2).ToArray(), 37, "bool byte is 2" },
            { "huge array", new ByteVector().Header(3, 0, 1).Str("k").U32(TypeArray).U32(0).U64(1UL << 50).ToArray(), 41, "array length 1125899906842624 exceeds the limit" },
            { "array beyond file", new ByteVector().Header(3, 0, 1).Str("k").U32(TypeArray).U32(TypeString).U64(1000).ToArray(), 41, "needs at least 8000 bytes" },
            { "duplicate key", new ByteVector().Header(3, 0, 2).Str("k").U32(TypeUInt32).U32(1).Str("k").U32(TypeUInt32).U32(2).ToArray(), 41, "duplicate metadata key 'k'" },
            { "alignment not power of two", new ByteVector().Header(3, 0, 1).Str("general.alignment").U32(TypeUInt32).U32(48).ToArray(), 24, "not a power of two" },
            { "alignment wrong type", new ByteVector().Header(3, 0, 1).Str("general.alignment").U32(TypeString).Str("32").ToArray(), 24, "expected UInt32" },
            { "five dimensions", Tensor(t => t.Str("w").U32(5)), 33, "has 5 dimensions" },
            { "unknown ggml type", Tensor(t => t.Str("w").U32(1).U64(32).U32(4).U64(0)), 45, "unknown ggml type 4" },
            { "row not a block multiple", Tensor(t => t.Str("w").U32(1).U64(33).U32(2).U64(0)), 33, "row length 33 is not a multiple of the Q4_0 block size 32" },
            { "wrong data offset", Tensor(t => t.Str("w").U32(1).U64(1).U32(0).U64(64)), 24, "has data offset 64, expected 0" },
            { "data past end", Tensor(t => t.Str("w").U32(1).U64(1000).U32(0).U64(0)), 24, "extends past the end of the file" },
            { "negative dimension", Tensor(t => t.Str("w").U32(1).U64(ulong.MaxValue).U32(0).U64(0)), 37, "larger than 2^63-1" },
            { "tensor name too long", Tensor(t => t.Str(new string('x', 64)).U32(1)), 24, "tensor name length 64 exceeds the limit of 63" },
            { "size overflow", Tensor(t => t.Str("w").U32(2).U64(1UL << 40).U64(1UL << 40).U32(0).U64(0)), 33, "size overflows" },
        };
        var nested = new ByteVector().Header(3, 0, 1).Str("k").U32(TypeArray);
        for (var i = 0; i < 9; i++)
        {
            nested.U32(TypeArray).U64(1);
        }

        data.Add("arrays nested 9 deep", nested.U32(TypeUInt32).U64(0).ToArray(), 133, "nested deeper than 8");
        return data;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_give_a_located_GgufFormatException(string name, byte[] bytes, long? offset, string problem)
    {
        var error = Assert.Throws<GgufFormatException>(() => GgufFixtures.Read(bytes));

        Assert.True(error.Problem.Contains(problem, StringComparison.Ordinal), $"{name}: '{error.Message}' lacks '{problem}'");
        Assert.Equal(offset, error.Offset);
        Assert.StartsWith("test.gguf: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_tensor_names_are_rejected()
    {
        var bytes = new ByteVector().Header(3, 2, 0)
            .Str("w").U32(1).U64(8).U32(0).U64(0)
            .Str("w").U32(1).U64(8).U32(0).U64(32)
            .PadTo(32).Raw(new byte[64]).ToArray();

        var error = Assert.Throws<GgufFormatException>(() => GgufFixtures.Read(bytes));

        Assert.Contains("duplicate tensor name 'w'", error.Message, StringComparison.Ordinal);
        Assert.Equal(57, error.Offset);
    }

    [Fact]
    public void Metadata_type_mismatch_names_the_key_and_its_offset()
    {
        var bytes = new ByteVector().Header(3, 0, 1).Str("llama.block_count").U32(TypeString).Str("32").ToArray();
        var file = GgufFixtures.Read(bytes);

        var error = Assert.Throws<GgufFormatException>(() => file.Metadata.GetUInt64("llama.block_count"));

        Assert.Equal("test.gguf: at byte 24: metadata 'llama.block_count' is String, expected a non-negative integer", error.Message);
    }

    [Fact]
    public void Cancellation_is_honoured_between_entries()
    {
        var bytes = GgufFixtures.ToBytes(GgufFixtures.AllValueTypes());
        using var stream = new MemoryStream(bytes);

        Assert.Throws<OperationCanceledException>(() => GgufReader.Read(stream, "x", new CancellationToken(canceled: true)));
    }

    /// <summary>A v3 file with one tensor and no metadata whose tensor info is written by <paramref name="info"/>; the data section holds 64 bytes.</summary>
    private static byte[] Tensor(Action<ByteVector> info)
    {
        var v = new ByteVector().Header(3, 1, 0);
        info(v);
        return v.PadTo(32).Raw(new byte[64]).ToArray();
    }
}

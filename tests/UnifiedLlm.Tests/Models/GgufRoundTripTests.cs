using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

public sealed class GgufRoundTripTests
{
    [Fact]
    public void Every_value_type_survives_write_then_read()
    {
        var writer = GgufFixtures.AllValueTypes();
        var file = GgufFixtures.Read(GgufFixtures.ToBytes(writer));
        var m = file.Metadata;

        Assert.Equal(3u, file.Version);
        Assert.Equal((byte)200, m.Find("t.u8")!.Value);
        Assert.Equal((sbyte)-100, m.Find("t.i8")!.Value);
        Assert.Equal((ushort)60000, m.Find("t.u16")!.Value);
        Assert.Equal((short)-30000, m.Find("t.i16")!.Value);
        Assert.Equal(4_000_000_000u, m.Find("t.u32")!.Value);
        Assert.Equal(-2_000_000_000, m.Find("t.i32")!.Value);
        Assert.Equal(3.25f, m.Find("t.f32")!.Value);
        Assert.Equal(true, m.GetBool("t.bool"));
        Assert.Equal("héllo ▁wörld", m.GetString("t.str"));
        Assert.Equal(18_000_000_000_000_000_000UL, m.GetUInt64("t.u64"));
        Assert.Equal(-9_000_000_000_000_000_000L, m.Find("t.i64")!.Value);
        Assert.Equal(-1.5e300, m.GetNumber("t.f64"));
        Assert.Equal(string.Empty, m.GetString("t.empty_str"));

        Assert.Equal((byte[])[1, 2, 255], m.GetArray("a.u8")!.Items);
        Assert.Equal((sbyte[])[-1, 0, 127], m.GetArray("a.i8")!.Items);
        Assert.Equal((ushort[])[1, 65535], m.GetArray("a.u16")!.Items);
        Assert.Equal((short[])[-2, 2], m.GetArray("a.i16")!.Items);
        Assert.Equal((uint[])[7, 8, 9], m.GetArray("a.u32")!.Items);
        Assert.Equal((int[])[-7, 8], m.GetArray("a.i32")!.Items);
        Assert.Equal((float[])[0.5f, -0.25f], m.GetArray("a.f32")!.Items);
        Assert.Equal((bool[])[true, false, true], m.GetArray("a.bool")!.Items);
        Assert.Equal((string[])["a", string.Empty, "<0x0A>"], m.GetArray("a.str")!.Items);
        Assert.Equal((ulong[])[ulong.MaxValue], m.GetArray("a.u64")!.Items);
        Assert.Equal((long[])[long.MinValue, 3L], m.GetArray("a.i64")!.Items);
        Assert.Equal((double[])[1e-300, 2.0], m.GetArray("a.f64")!.Items);
        Assert.Empty(m.GetArray("a.empty")!.Items);

        var nested = m.GetArray("a.nested")!;
        Assert.Equal(GgufValueType.Array, nested.ElementType);
        var inner = (GgufArray[])nested.Items;
        Assert.Equal(GgufValueType.Int32, inner[0].ElementType);
        Assert.Equal((int[])[1, 2], inner[0].Items);
        Assert.Equal((string[])["x"], inner[1].Items);

        Assert.Equal(writer.Alignment, file.Alignment);
        Assert.Equal(28, m.Entries.Count);
        Assert.Equal(["general.architecture", "t.u8"], m.Entries.Take(2).Select(e => e.Key));
    }

    [Fact]
    public void Tensor_infos_round_trip_with_offsets_and_sizes()
    {
        var bytes = GgufFixtures.ToBytes(GgufFixtures.AllValueTypes());
        var file = GgufFixtures.Read(bytes);

        Assert.Collection(
            file.Tensors,
            t => Assert.Equal(("blk.0.attn_q.weight", GgmlType.F32, 0UL, 128UL), (t.Name, t.Type, t.Offset, t.ByteSize)),
            t => Assert.Equal(("blk.0.ffn_up.weight", GgmlType.Q8_0, 128UL, 136UL), (t.Name, t.Type, t.Offset, t.ByteSize)),
            // 136 bytes padded to 32 → 160; 128 + 160 = 288
            t => Assert.Equal(("output_norm.weight", GgmlType.F16, 288UL, 16UL), (t.Name, t.Type, t.Offset, t.ByteSize)));
        Assert.Equal((ulong[])[64, 2], file.Tensors[1].Dimensions);
        Assert.Equal(0, file.DataOffset % 32);
        Assert.Equal(bytes.Length, file.FileLength);

        // The data really is where the tensor info says.
        var q8 = bytes.AsSpan((int)file.DataOffset + 128, 136).ToArray();
        Assert.Equal(GgufFixtures.Bytes(136, 2), q8);
    }

    [Fact]
    public void Custom_alignment_is_honoured()
    {
        var w = new GgufWriter();
        w.Add("general.alignment", GgufValue.FromUInt32(64));
        w.AddTensor("a", GgmlType.F32, [3], GgufFixtures.Bytes(12, 1));
        w.AddTensor("b", GgmlType.F32, [3], GgufFixtures.Bytes(12, 2));

        var file = GgufFixtures.Read(GgufFixtures.ToBytes(w));

        Assert.Equal(64u, file.Alignment);
        Assert.Equal(0, file.DataOffset % 64);
        Assert.Equal(64UL, file.Tensors[1].Offset);
    }

    [Fact]
    public void Tensors_without_data_leave_a_sparse_hole_that_still_reads_back()
    {
        using var dir = new TempDirectory();
        var path = dir.File("sparse.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString("llama"));
        // 4096 x 4096 Q4_K = 4096 * 4096 / 256 * 144 = 9,437,184 bytes, never written.
        w.AddTensor("blk.0.attn_q.weight", GgmlType.Q4_K, [4096, 4096], null);
        w.WriteFile(path);

        var file = GgufReader.Read(path, CancellationToken.None);

        Assert.Equal(9_437_184UL, file.Tensors[0].ByteSize);
        Assert.Equal(file.DataOffset + 9_437_184, file.FileLength);
    }
}

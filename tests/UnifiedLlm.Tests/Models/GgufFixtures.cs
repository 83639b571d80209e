using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

/// <summary>Small GGUF files exercising every metadata value type and a few tensors with real data.</summary>
internal static class GgufFixtures
{
    public static GgufWriter AllValueTypes()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString("llama"));
        w.Add("t.u8", GgufValue.FromUInt8(200));
        w.Add("t.i8", GgufValue.FromInt8(-100));
        w.Add("t.u16", GgufValue.FromUInt16(60000));
        w.Add("t.i16", GgufValue.FromInt16(-30000));
        w.Add("t.u32", GgufValue.FromUInt32(4_000_000_000));
        w.Add("t.i32", GgufValue.FromInt32(-2_000_000_000));
        w.Add("t.f32", GgufValue.FromFloat32(3.25f));
        w.Add("t.bool", GgufValue.FromBool(true));
        w.Add("t.str", GgufValue.FromString("héllo ▁wörld"));
        w.Add("t.u64", GgufValue.FromUInt64(18_000_000_000_000_000_000));
        w.Add("t.i64", GgufValue.FromInt64(-9_000_000_000_000_000_000));
        w.Add("t.f64", GgufValue.FromFloat64(-1.5e300));
        w.Add("t.empty_str", GgufValue.FromString(string.Empty));
        w.Add("a.u8", Array(GgufValueType.UInt8, (byte[])[1, 2, 255]));
        w.Add("a.i8", Array(GgufValueType.Int8, (sbyte[])[-1, 0, 127]));
        w.Add("a.u16", Array(GgufValueType.UInt16, (ushort[])[1, 65535]));
        w.Add("a.i16", Array(GgufValueType.Int16, (short[])[-2, 2]));
        w.Add("a.u32", Array(GgufValueType.UInt32, (uint[])[7, 8, 9]));
        w.Add("a.i32", Array(GgufValueType.Int32, (int[])[-7, 8]));
        w.Add("a.f32", Array(GgufValueType.Float32, (float[])[0.5f, -0.25f]));
        w.Add("a.bool", Array(GgufValueType.Bool, (bool[])[true, false, true]));
        w.Add("a.str", Array(GgufValueType.String, (string[])["a", string.Empty, "<0x0A>"]));
        w.Add("a.u64", Array(GgufValueType.UInt64, (ulong[])[ulong.MaxValue]));
        w.Add("a.i64", Array(GgufValueType.Int64, (long[])[long.MinValue, 3L]));
        w.Add("a.f64", Array(GgufValueType.Float64, (double[])[1e-300, 2.0]));
        w.Add("a.empty", Array(GgufValueType.UInt32, System.Array.Empty<uint>()));
        var inner1 = new GgufArray(GgufValueType.Int32, (int[])[1, 2]);
        var inner2 = new GgufArray(GgufValueType.String, (string[])["x"]);
        var nested = new GgufArray(GgufValueType.Array, (GgufArray[])[inner1, inner2]);
        w.Add("a.nested", GgufValue.FromArray(nested));
        w.AddTensor("blk.0.attn_q.weight", GgmlType.F32, [8, 4], Bytes(8 * 4 * 4, 1));
        w.AddTensor("blk.0.ffn_up.weight", GgmlType.Q8_0, [64, 2], Bytes(2 * 2 * 34, 2));
        w.AddTensor("output_norm.weight", GgmlType.F16, [8], Bytes(16, 3));
        return w;
    }

    public static byte[] ToBytes(GgufWriter writer)
    {
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        return stream.ToArray();
    }

    public static GgufFile Read(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return GgufReader.Read(stream, "test.gguf", CancellationToken.None);
    }

    public static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static GgufValue Array(GgufValueType type, System.Array items) => GgufValue.FromArray(new GgufArray(type, items));
}

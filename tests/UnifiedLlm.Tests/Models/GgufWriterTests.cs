using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

public sealed class GgufWriterTests
{
    [Fact]
    public void Writes_exactly_the_hand_built_bytes_for_a_minimal_file()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString("llama"));
        w.AddTensor("w", GgmlType.F32, [2], (byte[])[0, 0, 128, 63, 0, 0, 0, 64]);

        var expected = new ByteVector().Header(3, 1, 1)
            .Str("general.architecture").U32(8).Str("llama")
            .Str("w").U32(1).U64(2).U32(0).U64(0)
            .PadTo(32)
            .Raw(0, 0, 128, 63, 0, 0, 0, 64)
            .PadTo(32)
            .ToArray();
        Assert.Equal(expected, GgufFixtures.ToBytes(w));
    }

    [Fact]
    public void Rejects_inconsistent_input()
    {
        var w = new GgufWriter();
        w.Add("k", GgufValue.FromUInt32(1));

        Assert.Throws<ArgumentException>(() => w.Add("k", GgufValue.FromUInt32(2)));
        Assert.Throws<ArgumentException>(() => w.Add("general.alignment", GgufValue.FromUInt32(24)));
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.F32, [4], new byte[15]));
    }
}

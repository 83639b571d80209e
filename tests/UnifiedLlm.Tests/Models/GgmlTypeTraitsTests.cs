using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

public sealed class GgmlTypeTraitsTests
{
    // Block geometry from ggml's block structs (ggml-common.h): elements per block, bytes per block.
    [Theory]
    [InlineData(nameof(GgmlType.F32), 1, 4)]
    [InlineData(nameof(GgmlType.F16), 1, 2)]
    [InlineData(nameof(GgmlType.BF16), 1, 2)]
    [InlineData(nameof(GgmlType.F64), 1, 8)]
    [InlineData(nameof(GgmlType.I8), 1, 1)]
    [InlineData(nameof(GgmlType.I16), 1, 2)]
    [InlineData(nameof(GgmlType.I32), 1, 4)]
    [InlineData(nameof(GgmlType.I64), 1, 8)]
    [InlineData(nameof(GgmlType.Q4_0), 32, 18)]
    [InlineData(nameof(GgmlType.Q4_1), 32, 20)]
    [InlineData(nameof(GgmlType.Q5_0), 32, 22)]
    [InlineData(nameof(GgmlType.Q5_1), 32, 24)]
    [InlineData(nameof(GgmlType.Q8_0), 32, 34)]
    [InlineData(nameof(GgmlType.Q8_1), 32, 36)]
    [InlineData(nameof(GgmlType.Q2_K), 256, 84)]
    [InlineData(nameof(GgmlType.Q3_K), 256, 110)]
    [InlineData(nameof(GgmlType.Q4_K), 256, 144)]
    [InlineData(nameof(GgmlType.Q5_K), 256, 176)]
    [InlineData(nameof(GgmlType.Q6_K), 256, 210)]
    [InlineData(nameof(GgmlType.Q8_K), 256, 292)]
    [InlineData(nameof(GgmlType.IQ2_XXS), 256, 66)]
    [InlineData(nameof(GgmlType.IQ2_XS), 256, 74)]
    [InlineData(nameof(GgmlType.IQ3_XXS), 256, 98)]
    [InlineData(nameof(GgmlType.IQ1_S), 256, 50)]
    [InlineData(nameof(GgmlType.IQ4_NL), 32, 18)]
    [InlineData(nameof(GgmlType.IQ3_S), 256, 110)]
    [InlineData(nameof(GgmlType.IQ2_S), 256, 82)]
    [InlineData(nameof(GgmlType.IQ4_XS), 256, 136)]
    [InlineData(nameof(GgmlType.IQ1_M), 256, 56)]
    [InlineData(nameof(GgmlType.TQ1_0), 256, 54)]
    [InlineData(nameof(GgmlType.TQ2_0), 256, 66)]
    [InlineData(nameof(GgmlType.MXFP4), 32, 17)]
    [InlineData(nameof(GgmlType.NVFP4), 64, 36)]
    [InlineData(nameof(GgmlType.Q1_0), 128, 18)]
    [InlineData(nameof(GgmlType.Q2_0), 64, 18)]
    public void Block_geometry_matches_ggml(string typeName, int blockSize, int typeSize)
    {
        var type = Enum.Parse<GgmlType>(typeName);
        Assert.Equal(blockSize, GgmlTypeTraits.BlockSize(type));
        Assert.Equal(typeSize, GgmlTypeTraits.TypeSize(type));
        // A 4096 x 14336 matrix (Llama-3-8B ffn_up) takes rows x (4096 / block) x bytes-per-block.
        Assert.Equal((ulong)(14336L * (4096 / blockSize) * typeSize), GgmlTypeTraits.TensorBytes(type, [4096, 14336]));
    }

    [Fact]
    public void Every_enum_value_has_traits()
    {
        Assert.All(Enum.GetValues<GgmlType>(), t => Assert.True(GgmlTypeTraits.IsKnown(t), t.ToString()));
    }

    [Fact]
    public void Overflowing_sizes_are_reported_as_null()
    {
        Assert.Null(GgmlTypeTraits.TensorBytes(GgmlType.F32, [1UL << 40, 1UL << 40]));
    }
}

namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// Block geometry of each ggml type: a row of <c>n</c> elements takes <c>n / BlockSize * TypeSize</c> bytes.
/// Values follow ggml's type traits (ggml.c) and the block structs in ggml-common.h.
/// </summary>
internal static class GgmlTypeTraits
{
    private const int QkK = 256;

    private static readonly Dictionary<GgmlType, (int BlockSize, int TypeSize)> Traits = new()
    {
        [GgmlType.F32] = (1, 4),
        [GgmlType.F16] = (1, 2),
        [GgmlType.BF16] = (1, 2),
        [GgmlType.F64] = (1, 8),
        [GgmlType.I8] = (1, 1),
        [GgmlType.I16] = (1, 2),
        [GgmlType.I32] = (1, 4),
        [GgmlType.I64] = (1, 8),
        [GgmlType.Q4_0] = (32, 2 + 16),
        [GgmlType.Q4_1] = (32, 2 + 2 + 16),
        [GgmlType.Q5_0] = (32, 2 + 4 + 16),
        [GgmlType.Q5_1] = (32, 2 + 2 + 4 + 16),
        [GgmlType.Q8_0] = (32, 2 + 32),
        [GgmlType.Q8_1] = (32, 2 + 2 + 32),
        [GgmlType.Q2_K] = (QkK, (QkK / 16) + (QkK / 4) + 2 + 2),
        [GgmlType.Q3_K] = (QkK, (QkK / 8) + (QkK / 4) + 12 + 2),
        [GgmlType.Q4_K] = (QkK, 2 + 2 + 12 + (QkK / 2)),
        [GgmlType.Q5_K] = (QkK, 2 + 2 + 12 + (QkK / 8) + (QkK / 2)),
        [GgmlType.Q6_K] = (QkK, (QkK / 2) + (QkK / 4) + (QkK / 16) + 2),
        [GgmlType.Q8_K] = (QkK, 4 + QkK + (QkK / 16 * 2)),
        [GgmlType.IQ2_XXS] = (QkK, 2 + (QkK / 4)),
        [GgmlType.IQ2_XS] = (QkK, 2 + (QkK / 4) + (QkK / 32)),
        [GgmlType.IQ3_XXS] = (QkK, 2 + (QkK / 4) + (QkK / 8)),
        [GgmlType.IQ1_S] = (QkK, 2 + (QkK / 8) + (QkK / 16)),
        [GgmlType.IQ4_NL] = (32, 2 + 16),
        [GgmlType.IQ3_S] = (QkK, 2 + (QkK / 4) + (QkK / 8) + (QkK / 32) + 4),
        [GgmlType.IQ2_S] = (QkK, 2 + (QkK / 4) + (QkK / 16)),
        [GgmlType.IQ4_XS] = (QkK, 2 + 2 + (QkK / 2) + (QkK / 64)),
        [GgmlType.IQ1_M] = (QkK, (QkK / 8) + (QkK / 16) + (QkK / 32)),
        [GgmlType.TQ1_0] = (QkK, 2 + (4 * 13)),
        [GgmlType.TQ2_0] = (QkK, 2 + 64),
        [GgmlType.MXFP4] = (32, 1 + 16),
        [GgmlType.NVFP4] = (64, 4 + 32),
        [GgmlType.Q1_0] = (128, 2 + 16),
        [GgmlType.Q2_0] = (64, 2 + 16),
    };

    public static bool IsKnown(GgmlType type) => Traits.ContainsKey(type);

    public static int BlockSize(GgmlType type) => Traits[type].BlockSize;

    public static int TypeSize(GgmlType type) => Traits[type].TypeSize;

    /// <summary>Bytes of a tensor with these dimensions, or null when the size does not fit in 63 bits.</summary>
    public static ulong? TensorBytes(GgmlType type, IReadOnlyList<ulong> dimensions)
    {
        var (blockSize, typeSize) = Traits[type];
        if (dimensions.Count == 0)
        {
            return (ulong)typeSize;
        }

        UInt128 bytes = dimensions[0] / (ulong)blockSize * (ulong)typeSize;
        for (var i = 1; i < dimensions.Count; i++)
        {
            bytes *= dimensions[i];
            if (bytes > long.MaxValue)
            {
                return null;
            }
        }

        return bytes > long.MaxValue ? null : (ulong)bytes;
    }
}

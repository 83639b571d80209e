namespace UnifiedLlm.Daemon.Models;

/// <summary>general.file_type: the quantization a GGUF was produced with (llama_ftype). Gaps are removed codes.</summary>
internal enum LlamaFileType : uint
{
    AllF32 = 0,
    MostlyF16 = 1,
    MostlyQ4_0 = 2,
    MostlyQ4_1 = 3,
    MostlyQ8_0 = 7,
    MostlyQ5_0 = 8,
    MostlyQ5_1 = 9,
    MostlyQ2_K = 10,
    MostlyQ3_K_S = 11,
    MostlyQ3_K_M = 12,
    MostlyQ3_K_L = 13,
    MostlyQ4_K_S = 14,
    MostlyQ4_K_M = 15,
    MostlyQ5_K_S = 16,
    MostlyQ5_K_M = 17,
    MostlyQ6_K = 18,
    MostlyIQ2_XXS = 19,
    MostlyIQ2_XS = 20,
    MostlyQ2_K_S = 21,
    MostlyIQ3_XS = 22,
    MostlyIQ3_XXS = 23,
    MostlyIQ1_S = 24,
    MostlyIQ4_NL = 25,
    MostlyIQ3_S = 26,
    MostlyIQ3_M = 27,
    MostlyIQ2_S = 28,
    MostlyIQ2_M = 29,
    MostlyIQ4_XS = 30,
    MostlyIQ1_M = 31,
    MostlyBF16 = 32,
    MostlyTQ1_0 = 36,
    MostlyTQ2_0 = 37,
    MostlyMXFP4_MOE = 38,
    MostlyNVFP4 = 39,
    MostlyQ1_0 = 40,
    MostlyQ2_0 = 41,
}

internal static class LlamaFileTypeNames
{
    /// <summary>The customary short name (Q4_K_M, F16, ...), or "unknown(N)" for a code this build does not know.</summary>
    public static string Name(uint fileType)
    {
        var type = (LlamaFileType)fileType;
        if (!Enum.IsDefined(type))
        {
            return $"unknown({fileType})";
        }

        return type switch
        {
            LlamaFileType.AllF32 => "F32",
            LlamaFileType.MostlyF16 => "F16",
            LlamaFileType.MostlyBF16 => "BF16",
            LlamaFileType.MostlyMXFP4_MOE => "MXFP4_MOE",
            _ => type.ToString()["Mostly".Length..],
        };
    }
}

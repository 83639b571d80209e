using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Models;

public sealed class ModelProfileTests
{
    [Fact]
    public void Llama3_8B_profile_from_metadata_and_tensors()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Llama3_8B.WriteAndProfile(dir);

        Assert.Equal(("llama", "Llama-3-8B", "F16"), (p.Architecture, p.Name, p.FileType));
        Assert.Equal((32, 4096UL, 8192UL, 128256UL), (p.LayerCount, p.EmbeddingLength, p.ContextLength, p.VocabSize));
        Assert.All(p.HeadCounts, h => Assert.Equal(32UL, h));
        Assert.All(p.KvHeadCounts, h => Assert.Equal(8UL, h));
        // head dim defaults to 4096 / 32 = 128
        Assert.Equal((128UL, 128UL), (p.KeyLength, p.ValueLength));
        // per layer: q 4096² + k 4096·1024 + v 4096·1024 + o 4096² + 3 · 4096·14336 = 218,103,808 F16 elements
        // = 436,207,616 bytes, plus two F32 norms of 4096 (32,768 bytes) = 436,240,384
        Assert.All(p.LayerBytes, b => Assert.Equal(436_240_384UL, b));
        // token_embd 4096 · 128256 F16 = 1,050,673,152; output the same + output_norm 16,384
        Assert.Equal(1_050_673_152UL, p.TokenEmbeddingBytes);
        Assert.Equal(1_050_689_536UL, p.OutputBytes);
        Assert.False(p.OutputTiedToEmbeddings);
        // 32 · (218,103,808 + 8,192) + 2 · 525,336,576 + 4,096 = 8,030,261,248 parameters
        Assert.Equal(8_030_261_248UL, p.ParameterCount);
        Assert.Equal(32UL * 436_240_384 + 1_050_673_152 + 1_050_689_536, p.TensorBytes);
        Assert.Null(p.SlidingWindow);
        Assert.False(p.IsMixtureOfExperts);
    }

    [Fact]
    public void Qwen25_05B_has_gqa_tied_output_and_exact_mixed_quantization()
    {
        using var dir = new TempDirectory();
        var p = (SyntheticModel.Qwen25_05B with
        {
            // Q4_K_M-style mixing: layer 0's ffn_down is Q6_K, everything else Q8_0.
            WeightType = name => name == "blk.0.ffn_down.weight" ? GgmlType.Q6_K : GgmlType.Q8_0,
        }).WriteAndProfile(dir);

        Assert.Equal(("qwen2", "Q8_0"), (p.Architecture, p.FileType));
        Assert.Equal((2UL, 14UL, 64UL), (p.KvHeadCounts[5], p.HeadCounts[5], p.KeyLength));
        // matrices per layer: q 802,816 + k 114,688 + v 114,688 + o 802,816 + 3 · 4,358,144 = 14,909,440 elements,
        // Q8_0 = 14,909,440 / 32 · 34 = 15,841,280 bytes; F32 norms + biases: (2·896 + 896 + 128 + 128) · 4 = 11,776
        Assert.Equal(15_853_056UL, p.LayerBytes[1]);
        // layer 0: ffn_down as Q6_K = 4,358,144 / 256 · 210 = 3,575,040 instead of 4,630,528
        Assert.Equal(15_853_056UL - 4_630_528 + 3_575_040, p.LayerBytes[0]);
        // no output.weight: the head is token_embd (896 · 151936 Q8_0 = 144,643,072) + output_norm (3,584)
        Assert.True(p.OutputTiedToEmbeddings);
        Assert.Equal(144_643_072UL, p.TokenEmbeddingBytes);
        Assert.Equal(144_646_656UL, p.OutputBytes);
        // KV per token: 24 layers · 2 heads · (64 + 64) · 2 bytes = 12,288 = 12 KiB
        Assert.Equal(12UL * 1024, KvCacheSize.BytesPerToken(p, GgmlType.F16));
    }

    [Fact]
    public void Mixtral_8x7B_counts_experts_and_parameters()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Mixtral8x7B.WriteAndProfile(dir);

        Assert.True(p.IsMixtureOfExperts);
        Assert.Equal((8UL, 2UL, "Q4_0"), (p.ExpertCount, p.ExpertUsedCount, p.FileType));
        // experts: 3 · 4096 · 14336 · 8 = 1,409,286,144 Q4_0 elements = 792,723,456 bytes; attention 41,943,040 elements
        // = 23,592,960 bytes; router 4096 · 8 F32 = 131,072; norms 32,768 → 816,480,256 per layer
        Assert.All(p.LayerBytes, b => Assert.Equal(816_480_256UL, b));
        // 32 · (1,409,286,144 + 41,943,040 + 32,768 + 8,192 elements) + 2 · 131,072,000 + 4,096 = 46,702,792,704 (the published 46.7B)
        Assert.Equal(46_702_792_704UL, p.ParameterCount);
    }

    [Fact]
    public void Sliding_window_patterns_select_layers()
    {
        using var dir = new TempDirectory();
        var mistral = SyntheticModel.Mistral7B.WriteAndProfile(dir);
        Assert.Equal(4096UL, mistral.SlidingWindow);
        Assert.All(mistral.SlidingWindowLayers, Assert.True);

        var path = dir.File("pattern.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString("gemma3"));
        w.Add("gemma3.block_count", GgufValue.FromUInt32(12));
        w.Add("gemma3.embedding_length", GgufValue.FromUInt32(640));
        w.Add("gemma3.context_length", GgufValue.FromUInt32(32768));
        w.Add("gemma3.attention.head_count", GgufValue.FromUInt32(4));
        w.Add("gemma3.attention.sliding_window", GgufValue.FromUInt32(512));
        w.Add("gemma3.attention.sliding_window_pattern", GgufValue.FromUInt32(6));
        w.WriteFile(path);
        var gemma = ModelProfileReader.Read(path, CancellationToken.None);

        // every 6th layer (5, 11) is global, the rest slide
        Assert.Equal([true, true, true, true, true, false, true, true, true, true, true, false], gemma.SlidingWindowLayers);
    }

    [Fact]
    public void Per_layer_kv_head_arrays_are_read()
    {
        using var dir = new TempDirectory();
        var path = dir.File("per-layer.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString("llama"));
        w.Add("llama.block_count", GgufValue.FromUInt32(3));
        w.Add("llama.embedding_length", GgufValue.FromUInt32(256));
        w.Add("llama.context_length", GgufValue.FromUInt32(4096));
        w.Add("llama.attention.head_count", GgufValue.FromUInt32(4));
        w.Add("llama.attention.head_count_kv", GgufValue.FromArray(new GgufArray(GgufValueType.Int32, (int[])[4, 0, 2])));
        w.WriteFile(path);

        var p = ModelProfileReader.Read(path, CancellationToken.None);

        Assert.Equal([4UL, 0UL, 2UL], p.KvHeadCounts);
        // (4 + 0 + 2) heads · (64 + 64) · 2 bytes = 1,536 bytes per token
        Assert.Equal(1536UL, KvCacheSize.BytesPerToken(p, GgmlType.F16));
    }

    [Fact]
    public void Missing_required_keys_are_named()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bad.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString("llama"));
        w.Add("llama.block_count", GgufValue.FromUInt32(3));
        w.WriteFile(path);

        var error = Assert.Throws<GgufFormatException>(() => ModelProfileReader.Read(path, CancellationToken.None));

        Assert.Equal($"{path}: required metadata 'llama.embedding_length' is missing", error.Message);
    }

    [Fact]
    public void Tiny_model_profile()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        TinyModel.Write(path);

        var p = ModelProfileReader.Read(path, CancellationToken.None);

        Assert.Equal((2, 64UL, 298UL, "F32"), (p.LayerCount, p.EmbeddingLength, p.VocabSize, p.FileType));
        // per layer (2·64 + 4·64·64 + 3·64·128) · 4 = 164,352 bytes
        Assert.Equal([164_352UL, 164_352UL], p.LayerBytes);
    }
}

using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Models;

public sealed class TinyModelTests
{
    [Fact]
    public void Tiny_model_reads_back_with_the_llama_server_keys_and_tensors()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        TinyModel.Write(path);

        var file = GgufReader.Read(path, CancellationToken.None);
        var m = file.Metadata;

        Assert.Equal("llama", m.GetString("general.architecture"));
        Assert.Equal(2UL, m.GetUInt64("llama.block_count"));
        Assert.Equal(64UL, m.GetUInt64("llama.embedding_length"));
        Assert.Equal(256UL, m.GetUInt64("llama.context_length"));
        Assert.Equal("llama", m.GetString("tokenizer.ggml.model"));
        var tokens = (string[])m.GetArray("tokenizer.ggml.tokens")!.Items;
        Assert.Equal(298, tokens.Length);
        Assert.Equal(["<unk>", "<s>", "</s>"], tokens[..3]);
        Assert.Equal(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), tokens[5..261]);
        Assert.Equal(298, m.GetArray("tokenizer.ggml.scores")!.Count);
        Assert.Equal(6, ((int[])m.GetArray("tokenizer.ggml.token_type")!.Items)[5]);
        Assert.Contains("<|im_start|>", m.GetString("tokenizer.chat_template"), StringComparison.Ordinal);

        // token_embd + output_norm + output + 2 layers x 9 tensors
        Assert.Equal(21, file.Tensors.Count);
        var embd = file.Tensors.Single(t => t.Name == "token_embd.weight");
        Assert.Equal(new ulong[] { 64, 298 }, embd.Dimensions);
        Assert.Equal(new ulong[] { 128, 64 }, file.Tensors.Single(t => t.Name == "blk.1.ffn_down.weight").Dimensions);
        // matrices: 2 x 298*64 (embd, output) + 2 layers x (4*64*64 + 3*64*128) = 38,144 + 81,920 = 120,064 elements;
        // norms: 64 + 2 x 2 x 64 = 320 elements. F32: (120,064 + 320) x 4 = 481,536 bytes of data.
        Assert.Equal(481_536UL, file.TensorBytes);
        Assert.InRange(file.FileLength, 481_536, 500_000);
    }

    [Fact]
    public void F16_weights_halve_the_matrices_but_keep_norms_f32()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tiny16.gguf");
        TinyModel.Write(path, GgmlType.F16);

        var file = GgufReader.Read(path, CancellationToken.None);

        Assert.Equal(1UL, file.Metadata.GetUInt64("general.file_type"));
        Assert.Equal(GgmlType.F16, file.Tensors.Single(t => t.Name == "output.weight").Type);
        Assert.Equal(GgmlType.F32, file.Tensors.Single(t => t.Name == "blk.0.attn_norm.weight").Type);
        // matrices 120,064 elements x 2 + norms 320 x 4 = 241,408 bytes
        Assert.Equal(241_408UL, file.TensorBytes);
    }

    [Fact]
    public void Same_seed_gives_identical_files_and_another_seed_differs()
    {
        using var dir = new TempDirectory();
        TinyModel.Write(dir.File("a.gguf"), seed: 7);
        TinyModel.Write(dir.File("b.gguf"), seed: 7);
        TinyModel.Write(dir.File("c.gguf"), seed: 8);

        Assert.Equal(File.ReadAllBytes(dir.File("a.gguf")), File.ReadAllBytes(dir.File("b.gguf")));
        Assert.NotEqual(File.ReadAllBytes(dir.File("a.gguf")), File.ReadAllBytes(dir.File("c.gguf")));
    }

    public static TheoryData<string, string, ulong, ulong, ulong> PublishedShapes => new()
    {
        // Llama-3.2-1B: embeddings 128,256 x 2,048 = 262,668,288; a layer 2 x 2,048² (q, o) + 2 x 2,048 x 512 (k, v)
        // + 3 x 2,048 x 8,192 (gate, up, down) + 2 x 2,048 (norms) = 60,821,504, x 16; output norm 2,048: 1,235,814,400,
        // the published count. KV per token: 16 layers x 8 heads x 64 x 2 (K, V) x 2 bytes = 32 KiB.
        { "Llama-3.2-1B", "F16", 1_235_814_400, 128_256, 32 * 1024 },
        { "Llama-3.2-1B", "Q4_0", 1_235_814_400, 128_256, 32 * 1024 },
        // Qwen2.5-0.5B: embeddings 151,936 x 896 = 136,134,656; a layer 2 x 896² + 2 x 896 x 128 + QKV biases 1,152
        // + 3 x 896 x 4,864 + 2 x 896 = 14,912,384, x 24; output norm 896: 494,032,768, the published count.
        // KV per token: 24 x 2 x 64 x 2 x 2 = 12 KiB.
        { "Qwen2.5-0.5B", "Q8_0", 494_032_768, 151_936, 12 * 1024 },
    };

    [Theory]
    [MemberData(nameof(PublishedShapes))]
    public void A_published_shape_written_with_zero_weights_reads_back_with_its_parameter_count_and_vocabulary(
        string name, string weightType, ulong parameters, ulong vocab, ulong kvBytesPerToken)
    {
        var weights = Enum.Parse<GgmlType>(weightType);
        var shape = new[] { RandomModelShape.Llama32_1B, RandomModelShape.Qwen25_05B }.Single(s => s.Name == name);
        using var dir = new TempDirectory();
        var path = dir.File(name + ".gguf");
        TinyModel.WriteZeroWeights(path, shape, weights);

        var profile = ModelProfileReader.Read(path, CancellationToken.None);
        var file = GgufReader.Read(path, CancellationToken.None);

        Assert.Equal(parameters, profile.ParameterCount);
        Assert.Equal(vocab, profile.VocabSize);
        Assert.Equal((int)vocab, file.Metadata.GetArray("tokenizer.ggml.tokens")!.Count);
        Assert.Equal(shape.LayerCount, profile.LayerCount);
        Assert.True(profile.OutputTiedToEmbeddings);
        Assert.DoesNotContain(file.Tensors, t => t.Name == "output.weight");
        Assert.Equal(kvBytesPerToken, KvCacheSize.BytesPerToken(profile, KvCacheType.F16));
        // The matrices are of the asked type (Q8_0: 34 bytes a block of 32 weights, Q4_0 18, F16 2 a weight); norms stay F32.
        var embeddings = file.Tensors.Single(t => t.Name == "token_embd.weight");
        Assert.Equal(weights, embeddings.Type);
        Assert.Equal((ulong)shape.EmbeddingLength * vocab / (ulong)GgmlTypeTraits.BlockSize(weights) * (ulong)GgmlTypeTraits.TypeSize(weights), profile.TokenEmbeddingBytes);
        Assert.Equal(GgmlType.F32, file.Tensors.Single(t => t.Name == "blk.0.ffn_norm.weight").Type);
        Assert.Equal(shape.Architecture == "qwen2", file.Tensors.Any(t => t.Name == "blk.0.attn_k.bias"));
    }

    [Fact]
    public void Random_weights_of_a_quantized_type_are_refused_and_zero_weights_of_an_unsupported_type_too()
    {
        using var dir = new TempDirectory();

        var random = Assert.Throws<ArgumentException>(() => TinyModel.Write(dir.File("a.gguf"), RandomModelShape.Tiny, GgmlType.Q8_0));
        var zero = Assert.Throws<ArgumentException>(() => TinyModel.WriteZeroWeights(dir.File("b.gguf"), RandomModelShape.Tiny, GgmlType.Q4_K));

        Assert.Contains("Q8_0", random.Message, StringComparison.Ordinal);
        Assert.Contains("Q4_K", zero.Message, StringComparison.Ordinal);
    }
}

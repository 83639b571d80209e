using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;

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
}

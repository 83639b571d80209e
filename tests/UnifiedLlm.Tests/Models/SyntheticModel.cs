using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// Published model shapes written as real GGUF files whose tensor data is a sparse hole: the metadata and tensor table
/// are exactly what a converted model holds, the weights are never written.
/// </summary>
internal sealed record SyntheticModel
{
    public string Architecture { get; init; } = "llama";
    public required string Name { get; init; }
    public required int Layers { get; init; }
    public required ulong Embedding { get; init; }
    public required ulong Heads { get; init; }
    public required ulong KvHeads { get; init; }
    public required ulong FeedForward { get; init; }
    public required ulong Vocab { get; init; }
    public required ulong Context { get; init; }
    public ulong? SlidingWindow { get; init; }
    public uint FileType { get; init; } = 1;
    public bool TiedOutput { get; init; }
    public bool AttentionBias { get; init; }
    public ulong Experts { get; init; }
    public ulong ExpertsUsed { get; init; }

    /// <summary>Weight type of a 2-D or 3-D tensor, by name; 1-D tensors (norms, biases) are always F32.</summary>
    public Func<string, GgmlType> WeightType { get; init; } = _ => GgmlType.F16;

    public ModelProfile WriteAndProfile(TempDirectory dir)
    {
        var path = dir.File(Name + ".gguf");
        Write(path);
        return ModelProfileReader.Read(path, CancellationToken.None);
    }

    public void Write(string path)
    {
        var a = Architecture;
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.FromString(a));
        w.Add("general.name", GgufValue.FromString(Name));
        w.Add("general.file_type", GgufValue.FromUInt32(FileType));
        w.Add($"{a}.block_count", GgufValue.FromUInt32((uint)Layers));
        w.Add($"{a}.context_length", GgufValue.FromUInt32((uint)Context));
        w.Add($"{a}.embedding_length", GgufValue.FromUInt32((uint)Embedding));
        w.Add($"{a}.feed_forward_length", GgufValue.FromUInt32((uint)FeedForward));
        w.Add($"{a}.attention.head_count", GgufValue.FromUInt32((uint)Heads));
        w.Add($"{a}.attention.head_count_kv", GgufValue.FromUInt32((uint)KvHeads));
        w.Add($"{a}.vocab_size", GgufValue.FromUInt32((uint)Vocab));
        if (SlidingWindow is { } window)
        {
            w.Add($"{a}.attention.sliding_window", GgufValue.FromUInt32((uint)window));
        }

        if (Experts > 0)
        {
            w.Add($"{a}.expert_count", GgufValue.FromUInt32((uint)Experts));
            w.Add($"{a}.expert_used_count", GgufValue.FromUInt32((uint)ExpertsUsed));
        }

        var e = Embedding;
        var kv = e / Heads * KvHeads;
        w.AddTensor("token_embd.weight", WeightType("token_embd.weight"), [e, Vocab], null);
        w.AddTensor("output_norm.weight", GgmlType.F32, [e], null);
        if (!TiedOutput)
        {
            w.AddTensor("output.weight", WeightType("output.weight"), [e, Vocab], null);
        }

        for (var l = 0; l < Layers; l++)
        {
            var p = $"blk.{l}.";
            void Matrix(string name, params ulong[] dims) => w.AddTensor(p + name, WeightType(p + name), dims, null);
            void Vector(string name, ulong length) => w.AddTensor(p + name, GgmlType.F32, [length], null);

            Vector("attn_norm.weight", e);
            Matrix("attn_q.weight", e, e);
            Matrix("attn_k.weight", e, kv);
            Matrix("attn_v.weight", e, kv);
            if (AttentionBias)
            {
                Vector("attn_q.bias", e);
                Vector("attn_k.bias", kv);
                Vector("attn_v.bias", kv);
            }

            Matrix("attn_output.weight", e, e);
            Vector("ffn_norm.weight", e);
            if (Experts > 0)
            {
                w.AddTensor(p + "ffn_gate_inp.weight", GgmlType.F32, [e, Experts], null);
                Matrix("ffn_gate_exps.weight", e, FeedForward, Experts);
                Matrix("ffn_up_exps.weight", e, FeedForward, Experts);
                Matrix("ffn_down_exps.weight", FeedForward, e, Experts);
            }
            else
            {
                Matrix("ffn_gate.weight", e, FeedForward);
                Matrix("ffn_up.weight", e, FeedForward);
                Matrix("ffn_down.weight", FeedForward, e);
            }
        }

        w.WriteFile(path);
    }

    /// <summary>Llama-3-8B: 32 layers, n_embd 4096, 32 heads, 8 KV heads (head dim 128), n_ff 14336, vocab 128256; all matrices F16.</summary>
    public static SyntheticModel Llama3_8B => new()
    {
        Name = "Llama-3-8B",
        Layers = 32,
        Embedding = 4096,
        Heads = 32,
        KvHeads = 8,
        FeedForward = 14336,
        Vocab = 128256,
        Context = 8192,
    };

    /// <summary>Qwen2.5-0.5B: 24 layers, n_embd 896, 14 heads, 2 KV heads (head dim 64), n_ff 4864, vocab 151936, tied output, QKV biases.</summary>
    public static SyntheticModel Qwen25_05B => new()
    {
        Architecture = "qwen2",
        Name = "Qwen2.5-0.5B",
        Layers = 24,
        Embedding = 896,
        Heads = 14,
        KvHeads = 2,
        FeedForward = 4864,
        Vocab = 151936,
        Context = 32768,
        TiedOutput = true,
        AttentionBias = true,
        FileType = 7,
        WeightType = _ => GgmlType.Q8_0,
    };

    /// <summary>Mistral-7B-v0.1: 32 layers, n_embd 4096, 32 heads, 8 KV heads, n_ff 14336, vocab 32000, sliding window 4096.</summary>
    public static SyntheticModel Mistral7B => new()
    {
        Name = "Mistral-7B-v0.1",
        Layers = 32,
        Embedding = 4096,
        Heads = 32,
        KvHeads = 8,
        FeedForward = 14336,
        Vocab = 32000,
        Context = 32768,
        SlidingWindow = 4096,
        FileType = 2,
        WeightType = _ => GgmlType.Q4_0,
    };

    /// <summary>Mixtral-8x7B: Mistral's attention with 8 experts of n_ff 14336, 2 used per token; Q4_0.</summary>
    public static SyntheticModel Mixtral8x7B => new()
    {
        Name = "Mixtral-8x7B",
        Layers = 32,
        Embedding = 4096,
        Heads = 32,
        KvHeads = 8,
        FeedForward = 14336,
        Vocab = 32000,
        Context = 32768,
        Experts = 8,
        ExpertsUsed = 2,
        FileType = 2,
        WeightType = _ => GgmlType.Q4_0,
    };
}

using System.Globalization;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// The shapes of published Hugging Face models (from their config.json), written as SafeTensors directories whose
/// headers list every tensor at its real shape, sparse on disk: the vLLM sizing reads them as it reads the real ones.
/// </summary>
internal sealed record PublishedShape(
    string Name,
    string ModelType,
    ulong Hidden,
    ulong Layers,
    ulong Heads,
    ulong KvHeads,
    ulong Intermediate,
    ulong Vocab,
    ulong MaxPositions,
    ulong Experts = 0,
    bool QkvBias = false,
    bool Tied = false)
{
    public static readonly PublishedShape Llama31_8B = new("Llama-3.1-8B", "llama", 4096, 32, 32, 8, 14336, 128_256, 131_072);

    public static readonly PublishedShape Llama3_8B = new("Meta-Llama-3-8B", "llama", 4096, 32, 32, 8, 14336, 128_256, 8192);

    public static readonly PublishedShape Qwen25_32B = new("Qwen2.5-32B", "qwen2", 5120, 64, 40, 8, 27648, 152_064, 32_768, QkvBias: true);

    public static readonly PublishedShape Mixtral_8x7B = new("Mixtral-8x7B-v0.1", "mixtral", 4096, 32, 32, 8, 14336, 32_000, 32_768, Experts: 8);

    public static readonly PublishedShape Qwen25_05B = new("Qwen2.5-0.5B", "qwen2", 896, 24, 14, 2, 4864, 151_936, 32_768, QkvBias: true, Tied: true);

    public ulong HeadDim => Hidden / Heads;

    public string Config() => string.Create(CultureInfo.InvariantCulture, $$"""
        {"architectures": ["{{ModelType}}"], "model_type": "{{ModelType}}", "hidden_size": {{Hidden}}, "num_hidden_layers": {{Layers}},
         "num_attention_heads": {{Heads}}, "num_key_value_heads": {{KvHeads}}, "intermediate_size": {{Intermediate}},
         "max_position_embeddings": {{MaxPositions}}, "vocab_size": {{Vocab}}, "torch_dtype": "bfloat16",
         "tie_word_embeddings": {{(Tied ? "true" : "false")}}{{(Experts > 0 ? $", \"num_local_experts\": {Experts}, \"num_experts_per_tok\": 2" : "")}}}
        """);

    public IReadOnlyList<TensorSpec> Tensors()
    {
        var kv = KvHeads * HeadDim;
        var tensors = new List<TensorSpec> { new("model.embed_tokens.weight", "BF16", Vocab, Hidden) };
        for (ulong i = 0; i < Layers; i++)
        {
            var p = $"model.layers.{i}.";
            tensors.AddRange(
            [
                new(p + "input_layernorm.weight", "BF16", Hidden),
                new(p + "post_attention_layernorm.weight", "BF16", Hidden),
                new(p + "self_attn.q_proj.weight", "BF16", Hidden, Hidden),
                new(p + "self_attn.k_proj.weight", "BF16", kv, Hidden),
                new(p + "self_attn.v_proj.weight", "BF16", kv, Hidden),
                new(p + "self_attn.o_proj.weight", "BF16", Hidden, Hidden),
            ]);
            if (QkvBias)
            {
                tensors.AddRange([new(p + "self_attn.q_proj.bias", "BF16", Hidden), new(p + "self_attn.k_proj.bias", "BF16", kv), new(p + "self_attn.v_proj.bias", "BF16", kv)]);
            }

            if (Experts == 0)
            {
                tensors.AddRange(
                [
                    new(p + "mlp.gate_proj.weight", "BF16", Intermediate, Hidden),
                    new(p + "mlp.up_proj.weight", "BF16", Intermediate, Hidden),
                    new(p + "mlp.down_proj.weight", "BF16", Hidden, Intermediate),
                ]);
                continue;
            }

            tensors.Add(new(p + "block_sparse_moe.gate.weight", "BF16", Experts, Hidden));
            for (ulong e = 0; e < Experts; e++)
            {
                var x = $"{p}block_sparse_moe.experts.{e}.";
                tensors.AddRange([new(x + "w1.weight", "BF16", Intermediate, Hidden), new(x + "w2.weight", "BF16", Hidden, Intermediate), new(x + "w3.weight", "BF16", Intermediate, Hidden)]);
            }
        }

        tensors.Add(new("model.norm.weight", "BF16", Hidden));
        if (!Tied)
        {
            tensors.Add(new("lm_head.weight", "BF16", Vocab, Hidden));
        }

        return tensors;
    }

    /// <summary>Writes the model directory under <paramref name="parent"/> and returns its path.</summary>
    public string Write(string parent)
    {
        var directory = Path.Combine(parent, Name);
        SafeTensorsModels.WriteWhole(directory, Config(), Tensors());
        return directory;
    }
}

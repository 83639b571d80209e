namespace UnifiedLlm.Daemon.Models;

/// <summary>
/// The hyper-parameters of a model written by <see cref="TinyModel"/>. Without <see cref="VocabSize"/> the vocabulary is
/// the 298-token SentencePiece one; with it, that vocabulary padded with ordinary pieces to exactly this many tokens.
/// </summary>
internal sealed record RandomModelShape(int EmbeddingLength, int HeadCount, int KvHeadCount, int LayerCount, int FeedForwardLength, int ContextLength)
{
    public static readonly RandomModelShape Tiny = new(64, 4, 4, 2, 128, 256);

    /// <summary>Llama-3.2-1B's published config: 16 layers, n_embd 2048, 32 / 8 heads (head dim 64), n_ff 8192, vocab 128,256, tied output.</summary>
    public static readonly RandomModelShape Llama32_1B = new(2048, 32, 8, 16, 8192, 131072)
    {
        Name = "Llama-3.2-1B",
        VocabSize = 128256,
        TiedOutput = true,
        RopeFreqBase = 500000f,
    };

    /// <summary>Qwen2.5-0.5B's published config: 24 layers, n_embd 896, 14 / 2 heads (head dim 64), n_ff 4864, vocab 151,936, tied output, QKV biases.</summary>
    public static readonly RandomModelShape Qwen25_05B = new(896, 14, 2, 24, 4864, 32768)
    {
        Architecture = "qwen2",
        Name = "Qwen2.5-0.5B",
        VocabSize = 151936,
        TiedOutput = true,
        AttentionBias = true,
        RopeFreqBase = 1000000f,
    };

    /// <summary>general.architecture: "llama", or "qwen2" (which needs <see cref="AttentionBias"/>).</summary>
    public string Architecture { get; init; } = "llama";

    public string Name { get; init; } = "tiny-random-llama";

    /// <summary>Tokens in the vocabulary; null for the 298-token one.</summary>
    public int? VocabSize { get; init; }

    /// <summary>No output.weight: llama.cpp computes logits with token_embd, as models with tie_word_embeddings do.</summary>
    public bool TiedOutput { get; init; }

    /// <summary>Biases on the Q, K and V projections (Qwen2).</summary>
    public bool AttentionBias { get; init; }

    public float? RopeFreqBase { get; init; }
}

using System.Buffers.Binary;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models;

/// <summary>
/// Random-weight llama-architecture models (SPM vocab of 298 tokens with all 256 byte tokens, chatml template).
/// <see cref="RandomModelShape.Tiny"/> (2 layers, n_embd 64, 4 heads, n_ff 128, ctx 256) is about 0.5 MB in F32.
/// llama-server loads and runs them, producing random text: good for exercising real backends in tests, demos and
/// memory benchmarks without downloading a model. Published shapes are written with zero weights instead (sparse
/// holes, so a gigabyte model costs no disk and no time to write), which llama-server loads and runs all the same.
/// </summary>
internal static class TinyModel
{
    public const string ChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>SentencePiece token types as llama.cpp stores them in tokenizer.ggml.token_type.</summary>
    private enum TokenType
    {
        Normal = 1,
        Unknown = 2,
        Control = 3,
        Byte = 6,
    }

    /// <summary>Writes the tiny model to <paramref name="path"/>; <paramref name="weightType"/> is F32 or F16 (norms stay F32).</summary>
    public static void Write(string path, GgmlType weightType = GgmlType.F32, int seed = 0) =>
        Write(path, RandomModelShape.Tiny, weightType, seed);

    /// <summary>Writes a model of the given shape to <paramref name="path"/>.</summary>
    public static void Write(string path, RandomModelShape shape, GgmlType weightType = GgmlType.F32, int seed = 0)
    {
        if (weightType is not (GgmlType.F32 or GgmlType.F16))
        {
            throw new ArgumentException($"random weights must be F32 or F16, not {weightType}", nameof(weightType));
        }

        Write(path, shape, weightType, new Random(seed));
    }

    /// <summary>
    /// Writes a model of the given shape whose matrices are all zero (left as holes in the file) and whose norms are one;
    /// <paramref name="weightType"/> is F32, F16, Q8_0 or Q4_0, the types whose all-zero blocks are zero values.
    /// </summary>
    public static void WriteZeroWeights(string path, RandomModelShape shape, GgmlType weightType)
    {
        if (weightType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0 or GgmlType.Q4_0))
        {
            throw new ArgumentException($"zero weights must be F32, F16, Q8_0 or Q4_0, not {weightType}", nameof(weightType));
        }

        Write(path, shape, weightType, random: null);
    }

    private static void Write(string path, RandomModelShape shape, GgmlType weightType, Random? random)
    {
        var writer = new GgufWriter();
        var vocab = BuildVocab(shape.VocabSize);
        AddMetadata(writer, shape, vocab, weightType);
        AddTensors(writer, shape, vocab.Count, weightType, random);
        writer.WriteFile(path);
    }

    private static LlamaFileType FileType(GgmlType weightType) => weightType switch
    {
        GgmlType.F16 => LlamaFileType.MostlyF16,
        GgmlType.Q8_0 => LlamaFileType.MostlyQ8_0,
        GgmlType.Q4_0 => LlamaFileType.MostlyQ4_0,
        _ => LlamaFileType.AllF32,
    };

    private static List<(string Piece, float Score, TokenType Type)> BuildVocab(int? size)
    {
        List<(string, float, TokenType)> vocab =
        [
            ("<unk>", 0f, TokenType.Unknown),
            ("<s>", 0f, TokenType.Control),
            ("</s>", 0f, TokenType.Control),
            ("<|im_start|>", 0f, TokenType.Control),
            ("<|im_end|>", 0f, TokenType.Control),
        ];
        for (var b = 0; b < 256; b++)
        {
            vocab.Add(($"<0x{b:X2}>", 0f, TokenType.Byte));
        }

        string[] words = ["\u2581the", "\u2581a", "\u2581hello", "\u2581world", "\u2581is", "er", "in", "on", "an", "th"];
        string[] pieces = ["\u2581", .. "abcdefghijklmnopqrstuvwxyz".Select(c => c.ToString()), .. words];
        for (var i = 0; i < pieces.Length; i++)
        {
            vocab.Add((pieces[i], -(i + 1), TokenType.Normal));
        }

        if (size is { } wanted)
        {
            if (wanted < vocab.Count)
            {
                throw new ArgumentException($"a vocabulary of {wanted} tokens is smaller than the {vocab.Count} this writer needs", nameof(size));
            }

            for (var i = vocab.Count; i < wanted; i++)
            {
                vocab.Add(($"\u2581w{i}", -(pieces.Length + i), TokenType.Normal));
            }
        }

        return vocab;
    }

    private static void AddMetadata(GgufWriter w, RandomModelShape shape, List<(string Piece, float Score, TokenType Type)> vocab, GgmlType weightType)
    {
        var a = shape.Architecture;
        w.Add("general.architecture", GgufValue.FromString(a));
        w.Add("general.name", GgufValue.FromString(shape.Name));
        w.Add($"{a}.vocab_size", GgufValue.FromUInt32((uint)vocab.Count));
        w.Add($"{a}.context_length", GgufValue.FromUInt32((uint)shape.ContextLength));
        w.Add($"{a}.embedding_length", GgufValue.FromUInt32((uint)shape.EmbeddingLength));
        w.Add($"{a}.block_count", GgufValue.FromUInt32((uint)shape.LayerCount));
        w.Add($"{a}.feed_forward_length", GgufValue.FromUInt32((uint)shape.FeedForwardLength));
        w.Add($"{a}.attention.head_count", GgufValue.FromUInt32((uint)shape.HeadCount));
        w.Add($"{a}.attention.head_count_kv", GgufValue.FromUInt32((uint)shape.KvHeadCount));
        w.Add($"{a}.rope.dimension_count", GgufValue.FromUInt32((uint)(shape.EmbeddingLength / shape.HeadCount)));
        if (shape.RopeFreqBase is { } ropeBase)
        {
            w.Add($"{a}.rope.freq_base", GgufValue.FromFloat32(ropeBase));
        }

        w.Add($"{a}.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(1e-5f));
        w.Add("general.file_type", GgufValue.FromUInt32((uint)FileType(weightType)));
        w.Add("tokenizer.ggml.model", GgufValue.FromString("llama"));
        w.Add("tokenizer.ggml.tokens", GgufValue.FromArray(GgufArray.OfStrings(vocab.Select(v => v.Piece))));
        w.Add("tokenizer.ggml.scores", GgufValue.FromArray(GgufArray.OfFloat32(vocab.Select(v => v.Score))));
        w.Add("tokenizer.ggml.token_type", GgufValue.FromArray(GgufArray.OfInt32(vocab.Select(v => (int)v.Type))));
        w.Add("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32(1));
        w.Add("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32(2));
        w.Add("tokenizer.ggml.unknown_token_id", GgufValue.FromUInt32(0));
        w.Add("tokenizer.ggml.add_bos_token", GgufValue.FromBool(true));
        w.Add("tokenizer.chat_template", GgufValue.FromString(ChatTemplate));
    }

    private static void AddTensors(GgufWriter w, RandomModelShape shape, int vocabSize, GgmlType weightType, Random? random)
    {
        var (embeddingLength, layerCount, feedForwardLength) = (shape.EmbeddingLength, shape.LayerCount, shape.FeedForwardLength);
        var kvLength = embeddingLength / shape.HeadCount * shape.KvHeadCount;
        void Matrix(string name, int inputs, int outputs) =>
            w.AddTensor(name, weightType, [(ulong)inputs, (ulong)outputs], random is null ? (ReadOnlyMemory<byte>?)null : RandomWeights(inputs * outputs, weightType, random));
        void Bias(string name, int length) =>
            w.AddTensor(name, GgmlType.F32, [(ulong)length], random is null ? (ReadOnlyMemory<byte>?)null : RandomWeights(length, GgmlType.F32, random));
        void Norm(string name) =>
            w.AddTensor(name, GgmlType.F32, [(ulong)embeddingLength], Ones(embeddingLength));

        Matrix("token_embd.weight", embeddingLength, vocabSize);
        Norm("output_norm.weight");
        if (!shape.TiedOutput)
        {
            Matrix("output.weight", embeddingLength, vocabSize);
        }

        for (var layer = 0; layer < layerCount; layer++)
        {
            var p = $"blk.{layer}.";
            Norm(p + "attn_norm.weight");
            Matrix(p + "attn_q.weight", embeddingLength, embeddingLength);
            Matrix(p + "attn_k.weight", embeddingLength, kvLength);
            Matrix(p + "attn_v.weight", embeddingLength, kvLength);
            if (shape.AttentionBias)
            {
                Bias(p + "attn_q.bias", embeddingLength);
                Bias(p + "attn_k.bias", kvLength);
                Bias(p + "attn_v.bias", kvLength);
            }

            Matrix(p + "attn_output.weight", embeddingLength, embeddingLength);
            Norm(p + "ffn_norm.weight");
            Matrix(p + "ffn_gate.weight", embeddingLength, feedForwardLength);
            Matrix(p + "ffn_up.weight", embeddingLength, feedForwardLength);
            Matrix(p + "ffn_down.weight", feedForwardLength, embeddingLength);
        }
    }

    /// <summary>Normal(0, 0.02) weights from a Box-Muller transform of the seeded generator.</summary>
    private static byte[] RandomWeights(int count, GgmlType type, Random random)
    {
        var elementBytes = type == GgmlType.F16 ? 2 : 4;
        var bytes = new byte[count * elementBytes];
        for (var i = 0; i < count; i++)
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            var value = (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2) * 0.02);
            var slot = bytes.AsSpan(i * elementBytes, elementBytes);
            if (type == GgmlType.F16)
            {
                BinaryPrimitives.WriteHalfLittleEndian(slot, (Half)value);
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(slot, value);
            }
        }

        return bytes;
    }

    private static byte[] Ones(int count)
    {
        var bytes = new byte[count * 4];
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), 1f);
        }

        return bytes;
    }
}

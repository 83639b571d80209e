using System.Globalization;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models;

/// <summary>Builds a <see cref="ModelProfile"/> from a GGUF model, failing with <see cref="GgufFormatException"/> when a key the sizing needs is missing or inconsistent.</summary>
internal static class ModelProfileReader
{
    public static ModelProfile Read(string path, CancellationToken cancellationToken) =>
        FromGguf(GgufModelReader.Read(path, cancellationToken));

    public static ModelProfile FromGguf(GgufModel model)
    {
        var m = model.Metadata;
        var arch = m.GetString("general.architecture") ?? throw Missing(model, "general.architecture");
        var layerCount = ToInt(model, $"{arch}.block_count", m.GetUInt64($"{arch}.block_count") ?? throw Missing(model, $"{arch}.block_count"));
        var embedding = m.GetUInt64($"{arch}.embedding_length") ?? throw Missing(model, $"{arch}.embedding_length");
        var heads = m.GetPerLayer($"{arch}.attention.head_count", layerCount) ?? throw Missing(model, $"{arch}.attention.head_count");
        var kvHeads = m.GetPerLayer($"{arch}.attention.head_count_kv", layerCount) ?? heads;
        var maxHeads = heads.DefaultIfEmpty(0UL).Max();
        var headWidth = maxHeads == 0 ? 0 : embedding / maxHeads;
        var (layerBytes, embdBytes, outputBytes, tied) = SumTensorBytes(model, layerCount);
        var slidingWindow = m.GetUInt64($"{arch}.attention.sliding_window");

        return new ModelProfile
        {
            Path = model.Path,
            Architecture = arch,
            Name = m.GetString("general.name"),
            ParameterCount = m.GetUInt64("general.parameter_count") ?? model.Tensors.Aggregate(0UL, (sum, t) => sum + t.ElementCount),
            LayerCount = layerCount,
            EmbeddingLength = embedding,
            HeadCounts = heads,
            KvHeadCounts = kvHeads,
            KeyLength = m.GetUInt64($"{arch}.attention.key_length") ?? headWidth,
            ValueLength = m.GetUInt64($"{arch}.attention.value_length") ?? headWidth,
            ContextLength = m.GetUInt64($"{arch}.context_length") ?? throw Missing(model, $"{arch}.context_length"),
            VocabSize = VocabSize(model, arch),
            FeedForwardLength = m.GetPerLayer($"{arch}.feed_forward_length", layerCount)?.DefaultIfEmpty(0UL).Max() ?? 0,
            ExpertCount = m.GetUInt64($"{arch}.expert_count") ?? 0,
            ExpertUsedCount = m.GetUInt64($"{arch}.expert_used_count") ?? 0,
            SlidingWindow = slidingWindow is 0 ? null : slidingWindow,
            SlidingWindowLayers = SlidingLayers(m, arch, layerCount, slidingWindow is > 0),
            FileType = m.GetUInt64("general.file_type") is { } ft && ft <= uint.MaxValue ? LlamaFileTypeNames.Name((uint)ft) : null,
            LayerBytes = layerBytes,
            OutputBytes = outputBytes,
            TokenEmbeddingType = model.Tensors.FirstOrDefault(t => t.Name == "token_embd.weight")?.Type,
            OutputTiedToEmbeddings = tied,
            TokenEmbeddingBytes = embdBytes,
            TensorBytes = model.TensorBytes,
            FileBytes = model.FileBytes,
        };
    }

    private static (ulong[] Layers, ulong Embeddings, ulong Output, bool Tied) SumTensorBytes(GgufModel model, int layerCount)
    {
        var layers = new ulong[layerCount];
        ulong embeddings = 0, other = 0;
        var hasOutput = false;
        foreach (var tensor in model.Tensors)
        {
            if (LayerIndex(tensor.Name) is { } layer && layer < layerCount)
            {
                layers[layer] += tensor.ByteSize;
            }
            else if (tensor.Name == "token_embd.weight")
            {
                embeddings += tensor.ByteSize;
            }
            else
            {
                hasOutput |= tensor.Name == "output.weight";
                other += tensor.ByteSize;
            }
        }

        // llama.cpp duplicates token_embd onto the output device when the model has no separate output matrix.
        return (layers, embeddings, hasOutput ? other : other + embeddings, !hasOutput);
    }

    /// <summary>N for a tensor named <c>blk.N.*</c>.</summary>
    private static int? LayerIndex(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal))
        {
            return null;
        }

        var end = name.IndexOf('.', 4);
        return end > 4 && int.TryParse(name.AsSpan(4, end - 4), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    private static ulong VocabSize(GgufModel model, string arch)
    {
        if (model.Metadata.GetUInt64($"{arch}.vocab_size") is { } size)
        {
            return size;
        }

        if (model.Metadata.GetArray("tokenizer.ggml.tokens") is { } tokens)
        {
            return (ulong)tokens.Count;
        }

        var embd = model.Tensors.FirstOrDefault(t => t.Name == "token_embd.weight");
        return embd is { Dimensions.Count: 2 } ? embd.Dimensions[1] : 0;
    }

    /// <summary>
    /// Sliding-window layers: a per-layer bool array in {arch}.attention.sliding_window_pattern; or an integer N there,
    /// meaning every Nth layer is global and the rest slide (llama.cpp's set_swa_pattern); or, with a window but no
    /// pattern, every layer slides (Mistral v0.1 style).
    /// </summary>
    private static bool[] SlidingLayers(GgufMetadata m, string arch, int layerCount, bool hasWindow)
    {
        if (!hasWindow)
        {
            return new bool[layerCount];
        }

        var key = $"{arch}.attention.sliding_window_pattern";
        if (m.Find(key) is { Value: GgufArray { ElementType: GgufValueType.Bool } array })
        {
            var flags = (bool[])array.Items;
            return flags.Length == layerCount
                ? flags
                : throw new GgufFormatException(m.Source, null, $"'{key}' has {flags.Length} entries but the model has {layerCount} layers");
        }

        if (m.GetUInt64(key) is { } period and > 0)
        {
            return Enumerable.Range(0, layerCount).Select(i => (ulong)i % period < period - 1).ToArray();
        }

        return Enumerable.Repeat(true, layerCount).ToArray();
    }

    private static int ToInt(GgufModel model, string key, ulong value) =>
        value <= 100_000 ? (int)value : throw new GgufFormatException(model.Path, null, $"'{key}' is {value}, implausibly large");

    private static GgufFormatException Missing(GgufModel model, string key) =>
        new(model.Path, null, $"required metadata '{key}' is missing");
}

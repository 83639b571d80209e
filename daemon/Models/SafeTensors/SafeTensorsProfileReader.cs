using System.Globalization;

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>
/// Builds a <see cref="ModelProfile"/> for a SafeTensors model directory (as vLLM loads it) from its config.json and
/// the tensor headers of its shards, with the same meaning as for GGUF: per-layer bytes from <c>model.layers.N.*</c>,
/// the embeddings from <c>model.embed_tokens.weight</c>, everything else counted with the output head.
/// Fails with <see cref="SafeTensorsFormatException"/> naming the file and key or offset.
/// </summary>
internal static class SafeTensorsProfileReader
{
    private const string LayerPrefix = "model.layers.";
    private const string EmbeddingTensor = "model.embed_tokens.weight";
    private const string OutputTensor = "lm_head.weight";

    public static ModelProfile Read(string directory, CancellationToken cancellationToken)
    {
        var config = HuggingFaceConfig.Read(Path.Combine(directory, SafeTensorsShards.ConfigFileName));
        var shards = SafeTensorsShards.Find(directory);
        var headers = new List<SafeTensorsHeader>();
        foreach (var file in shards.Files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            headers.Add(SafeTensorsHeaderReader.Read(file, cancellationToken));
        }

        var tensors = CheckShards(shards, headers);
        return FromConfig(directory, config, tensors, headers.Sum(h => h.FileBytes));
    }

    private static ModelProfile FromConfig(string directory, HuggingFaceConfig config, List<SafeTensorsTensor> tensors, long fileBytes)
    {
        var arch = config.String("model_type") ?? config.FirstString("architectures") ?? throw config.Error("model_type", "is missing (and so is 'architectures')");
        var layerCount = config.RequiredUInt("num_hidden_layers") is var layers and <= 100_000
            ? (int)layers
            : throw config.Error("num_hidden_layers", "is implausibly large");
        var hidden = config.RequiredUInt("hidden_size");
        var heads = config.RequiredUInt("num_attention_heads");
        if (heads == 0)
        {
            throw config.Error("num_attention_heads", "must not be 0");
        }

        var kvHeads = config.UInt("num_key_value_heads") ?? heads;
        var headWidth = config.UInt("head_dim") ?? hidden / heads;
        var window = config.UInt("sliding_window");
        var slides = window is > 0 && config.Bool("use_sliding_window") != false;
        var (layerBytes, embeddings, output, tied) = SumTensorBytes(tensors, layerCount);

        return new ModelProfile
        {
            Path = directory,
            Format = ModelProfile.SafeTensorsFormat,
            Architecture = arch,
            Name = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)),
            ParameterCount = tensors.Aggregate(0UL, (sum, t) => sum + t.ElementCount),
            LayerCount = layerCount,
            EmbeddingLength = hidden,
            HeadCounts = Enumerable.Repeat(heads, layerCount).ToArray(),
            KvHeadCounts = Enumerable.Repeat(kvHeads, layerCount).ToArray(),
            KeyLength = headWidth,
            ValueLength = headWidth,
            ContextLength = config.RequiredUInt("max_position_embeddings"),
            VocabSize = config.RequiredUInt("vocab_size"),
            ExpertCount = config.UInt("num_local_experts") ?? config.UInt("num_experts") ?? 0,
            ExpertUsedCount = config.UInt("num_experts_per_tok") ?? 0,
            SlidingWindow = slides ? window : null,
            SlidingWindowLayers = Enumerable.Repeat(slides, layerCount).ToArray(),
            FileType = WeightType(config),
            LayerBytes = layerBytes,
            OutputBytes = output,
            OutputTiedToEmbeddings = tied,
            TokenEmbeddingBytes = embeddings,
            TensorBytes = tensors.Aggregate(0UL, (sum, t) => sum + t.ByteSize),
            FileBytes = fileBytes,
        };
    }

    /// <summary>Every tensor once across the shards, and each tensor the index names in the shard it names.</summary>
    private static List<SafeTensorsTensor> CheckShards(SafeTensorsShards shards, List<SafeTensorsHeader> headers)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var header in headers)
        {
            foreach (var tensor in header.Tensors)
            {
                if (!seen.TryAdd(tensor.Name, header.Path))
                {
                    throw new SafeTensorsFormatException(header.Path, null, $"tensor '{tensor.Name}' is also in {seen[tensor.Name]}");
                }
            }
        }

        foreach (var (name, file) in shards.WeightMap)
        {
            var expected = Path.Combine(shards.Directory, file);
            if (seen.GetValueOrDefault(name) != expected)
            {
                throw new SafeTensorsFormatException(shards.IndexPath!, null, $"'weight_map.{name}' names {file}, but that shard has no such tensor");
            }
        }

        return headers.SelectMany(h => h.Tensors).ToList();
    }

    private static (ulong[] Layers, ulong Embeddings, ulong Output, bool Tied) SumTensorBytes(List<SafeTensorsTensor> tensors, int layerCount)
    {
        var layers = new ulong[layerCount];
        ulong embeddings = 0, other = 0;
        var hasOutput = false;
        foreach (var tensor in tensors)
        {
            if (LayerIndex(tensor.Name) is { } layer && layer < layerCount)
            {
                layers[layer] += tensor.ByteSize;
            }
            else if (tensor.Name == EmbeddingTensor)
            {
                embeddings += tensor.ByteSize;
            }
            else
            {
                hasOutput |= tensor.Name == OutputTensor;
                other += tensor.ByteSize;
            }
        }

        // A tied model (tie_word_embeddings) ships no lm_head; the embedding matrix serves as the output head too.
        return (layers, embeddings, hasOutput ? other : other + embeddings, !hasOutput);
    }

    /// <summary>N for a tensor named <c>model.layers.N.*</c>.</summary>
    private static int? LayerIndex(string name)
    {
        if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var start = LayerPrefix.Length;
        var end = name.IndexOf('.', start);
        return end > start && int.TryParse(name.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    /// <summary>The quantization method when the weights are quantized (AWQ, GPTQ, FP8), else the dtype (BF16, F16, F32).</summary>
    private static string? WeightType(HuggingFaceConfig config)
    {
        if (config.NestedString("quantization_config", "quant_method") is { } method)
        {
            return method.ToUpperInvariant();
        }

        return (config.String("torch_dtype") ?? config.String("dtype")) switch
        {
            null => null,
            "bfloat16" => "BF16",
            "float16" or "half" => "F16",
            "float32" or "float" => "F32",
            var other => other.ToUpperInvariant(),
        };
    }
}

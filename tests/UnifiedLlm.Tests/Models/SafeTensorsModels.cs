namespace UnifiedLlm.Tests.Models;

/// <summary>Model directories for tests: a Qwen2.5-0.5B of real shape (sparse), and a small two-layer model, whole or in shards.</summary>
internal static class SafeTensorsModels
{
    /// <summary>Qwen2.5-0.5B's config.json as published (the keys sizing reads, and some it ignores).</summary>
    public const string Qwen25HalfBConfig = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    public const string SmallConfig = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512, "vocab_size": 32,
         "torch_dtype": "float32", "tie_word_embeddings": false}
        """;

    public static IReadOnlyList<TensorSpec> Qwen25HalfBTensors()
    {
        var tensors = new List<TensorSpec> { new("model.embed_tokens.weight", "BF16", 151936, 896) };
        for (var i = 0; i < 24; i++)
        {
            var p = $"model.layers.{i}.";
            tensors.AddRange(
            [
                new(p + "input_layernorm.weight", "BF16", 896),
                new(p + "mlp.down_proj.weight", "BF16", 896, 4864),
                new(p + "mlp.gate_proj.weight", "BF16", 4864, 896),
                new(p + "mlp.up_proj.weight", "BF16", 4864, 896),
                new(p + "post_attention_layernorm.weight", "BF16", 896),
                new(p + "self_attn.k_proj.bias", "BF16", 128),
                new(p + "self_attn.k_proj.weight", "BF16", 128, 896),
                new(p + "self_attn.o_proj.weight", "BF16", 896, 896),
                new(p + "self_attn.q_proj.bias", "BF16", 896),
                new(p + "self_attn.q_proj.weight", "BF16", 896, 896),
                new(p + "self_attn.v_proj.bias", "BF16", 128),
                new(p + "self_attn.v_proj.weight", "BF16", 128, 896),
            ]);
        }

        tensors.Add(new("model.norm.weight", "BF16", 896));
        return tensors;
    }

    /// <summary>Two layers, hidden 16, an untied lm_head; 32×16 embeddings; all F32.</summary>
    public static IReadOnlyList<TensorSpec> SmallTensors()
    {
        var tensors = new List<TensorSpec> { new("model.embed_tokens.weight", "F32", 32, 16) };
        for (var i = 0; i < 2; i++)
        {
            var p = $"model.layers.{i}.";
            tensors.AddRange(
            [
                new(p + "self_attn.q_proj.weight", "F32", 16, 16),
                new(p + "self_attn.k_proj.weight", "F32", 8, 16),
                new(p + "self_attn.v_proj.weight", "F32", 8, 16),
                new(p + "self_attn.o_proj.weight", "F32", 16, 16),
                new(p + "mlp.up_proj.weight", "F32", 32, 16),
                new(p + "mlp.down_proj.weight", "F32", 16, 32),
            ]);
        }

        tensors.Add(new("model.norm.weight", "F32", 16));
        tensors.Add(new("lm_head.weight", "F32", 32, 16));
        return tensors;
    }

    public static void WriteWhole(string directory, string config, IReadOnlyList<TensorSpec> tensors)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), config);
        SafeTensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The small model in two shards with an index: embeddings and layer 0 in the first, the rest in the second.</summary>
    public static void WriteShardedSmall(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), SmallConfig);
        var tensors = SmallTensors();
        var first = tensors.Take(7).ToList();
        var second = tensors.Skip(7).ToList();
        SafeTensorsWriter.Write(Path.Combine(directory, "model-00001-of-00002.safetensors"), first);
        SafeTensorsWriter.Write(Path.Combine(directory, "model-00002-of-00002.safetensors"), second);
        SafeTensorsWriter.WriteIndex(
            directory,
            first.ToDictionary(t => t.Name, _ => "model-00001-of-00002.safetensors")
                .Concat(second.ToDictionary(t => t.Name, _ => "model-00002-of-00002.safetensors"))
                .ToDictionary());
    }
}

using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Config;

/// <summary>
/// The per-model sizing keys (parallel, min_parallel, min_context, cache_type_k/v, flash_attn, gpus): their defaults,
/// their values, and what --check refuses with file:line, among it extra_args that set a flag the planner owns.
/// </summary>
public sealed class SizingConfigTests
{
    private const string Model = "[models.a]\nbackend = \"llamacpp\"\nsource = \"/a.gguf\"\n";

    [Fact]
    public void Defaults_give_four_slots_an_f16_cache_and_llama_servers_own_flash_attention_choice()
    {
        var a = ConfigLoader.Parse(Model, "c.toml").Models["a"];

        Assert.Equal((4, 1, 0), (a.Parallel, a.MinParallel, a.MinContext));
        Assert.Equal(KvCacheType.F16, a.CacheType);
        Assert.Equal(FlashAttention.Auto, a.FlashAttn);
        Assert.Empty(a.Gpus);
    }

    [Fact]
    public void Every_key_is_read()
    {
        var a = ConfigLoader.Parse(
            Model + "context = 8192\nmin_context = 4096\nparallel = 8\nmin_parallel = 2\ncache_type_k = \"q8_0\"\ncache_type_v = \"q4_0\"\nflash_attn = \"on\"\ngpus = [1, 3]\n",
            "c.toml").Models["a"];

        Assert.Equal((8192, 4096, 8, 2), (a.Context, a.MinContext, a.Parallel, a.MinParallel));
        Assert.Equal(new KvCacheType(GgmlType.Q8_0, GgmlType.Q4_0), a.CacheType);
        Assert.Equal(FlashAttention.On, a.FlashAttn);
        Assert.Equal([1, 3], a.Gpus);
    }

    [Theory]
    [InlineData("cache_type_v = \"q8_0\"\nflash_attn = \"off\"\n", 4, "models.a.cache_type_v", "a quantized V cache (q8_0) needs flash attention, and flash_attn = \"off\"")]
    [InlineData("cache_type_k = \"q6_k\"\n", 4, "models.a.cache_type_k", "'q6_k' is not one of 'f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'iq4_nl', 'q5_0', 'q5_1'")]
    [InlineData("flash_attn = true\n", 4, "models.a.flash_attn", "expected a string")]
    [InlineData("parallel = 2\nmin_parallel = 3\n", 5, "models.a.min_parallel", "min_parallel = 3 is more than parallel = 2")]
    [InlineData("parallel = 0\n", 4, "models.a.parallel", "0 is out of range")]
    [InlineData("context = 1024\nmin_context = 2048\n", 5, "models.a.min_context", "min_context = 2048 is more than context = 1024")]
    [InlineData("gpus = [0, 0]\n", 4, "models.a.gpus", "lists a GPU index twice")]
    [InlineData("extra_args = [\"-c\", \"8192\"]\n", 4, "models.a.extra_args", "'-c' is set by ullmd's planner for every load; use the model option context")]
    [InlineData("extra_args = [\"--ctx-size=8192\"]\n", 4, "models.a.extra_args", "'--ctx-size' is set by ullmd's planner")]
    [InlineData("extra_args = [\"-np\", \"2\"]\n", 4, "models.a.extra_args", "use the model option parallel and min_parallel instead")]
    [InlineData("extra_args = [\"-ngl\", \"99\"]\n", 4, "models.a.extra_args", "use the model option gpu_layers instead")]
    [InlineData("extra_args = [\"-ctk\", \"q8_0\"]\n", 4, "models.a.extra_args", "use the model option cache_type_k instead")]
    [InlineData("extra_args = [\"--cache-type-v\", \"q8_0\"]\n", 4, "models.a.extra_args", "use the model option cache_type_v instead")]
    [InlineData("extra_args = [\"-fa\", \"on\"]\n", 4, "models.a.extra_args", "use the model option flash_attn instead")]
    [InlineData("extra_args = [\"--tensor-split\", \"1,1\"]\n", 4, "models.a.extra_args", "use the model option gpus (the planner splits a model over them) instead")]
    [InlineData("extra_args = [\"-dev\", \"CUDA0\"]\n", 4, "models.a.extra_args", "use the model option gpus instead")]
    [InlineData("extra_args = [\"-kvu\"]\n", 4, "models.a.extra_args", "ullmd gives each slot a KV cache of its own")]
    public void Check_refuses_what_would_make_the_plan_wrong_with_file_and_line(string keys, int line, string keyPath, string message)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Model + keys, "test.toml"));

        var error = Assert.Single(e.Errors, x => x.KeyPath == keyPath && x.Message.Contains(message, StringComparison.Ordinal));
        Assert.Equal(("test.toml", line), (error.File, error.Line));
    }

    [Fact]
    public void Backend_extra_args_may_not_set_planner_flags_either()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("[backends.llamacpp]\nextra_args = [\"--parallel\", \"8\"]\n", "test.toml"));

        Assert.Equal(
            "test.toml:2:1: backends.llamacpp.extra_args: '--parallel' is set by ullmd's planner for every load; use the model option parallel and min_parallel instead",
            Assert.Single(e.Errors).ToString());
    }

    [Theory]
    [InlineData("[models.v]\nbackend = \"vllm\"\nsource = \"/models/v\"\nextra_args = [\"--max-model-len\", \"4096\"]\n", 6, "models.v.extra_args", "'--max-model-len' is set by ullmd's planner for every load; use the model option context instead")]
    [InlineData("[models.v]\nbackend = \"vllm\"\nsource = \"/models/v\"\nextra_args = [\"--max-num-seqs=8\"]\n", 6, "models.v.extra_args", "use the model option parallel instead")]
    [InlineData("[models.v]\nbackend = \"vllm\"\nsource = \"/models/v\"\nextra_args = [\"-tp\", \"2\"]\n", 6, "models.v.extra_args", "use the model option gpus (the plan chooses the size from the usable GPUs) instead")]
    [InlineData("extra_args = [\"--gpu-memory-utilization\", \"0.5\"]\n", 3, "backends.vllm.extra_args", "use no option (the plan derives it from the GPUs' memory) instead")]
    public void Check_refuses_vllm_flags_the_plan_sets_with_file_and_line(string toml, int line, string keyPath, string message)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("[backends.vllm]\nenabled = true\n" + toml, "test.toml"));

        var error = Assert.Single(e.Errors, x => x.KeyPath == keyPath && x.Message.Contains(message, StringComparison.Ordinal));
        Assert.Equal(("test.toml", line), (error.File, error.Line));
    }

    [Fact]
    public void Cache_types_and_flash_attention_are_refused_for_other_backends()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(
            "[backends.ollama]\nenabled = true\n[models.o]\nbackend = \"ollama\"\nsource = \"qwen:0.5b\"\ncache_type_k = \"q8_0\"\n", "test.toml"));

        Assert.Equal("test.toml:6:1: models.o.cache_type_k: applies to llama.cpp models only; backend 'ollama' does not take it", Assert.Single(e.Errors).ToString());
    }
}

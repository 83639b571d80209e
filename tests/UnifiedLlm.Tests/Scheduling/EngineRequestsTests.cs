using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Tests.Models;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>The planner inputs read for Ollama and vLLM models from their files and settings, and what a planned Ollama load is told.</summary>
public sealed class EngineRequestsTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static ModelConfig Model(BackendKind backend, string source, int context = 0, params string[] extraArgs) =>
        new("m", backend, source, [], context, null, TimeSpan.Zero, 0, false, extraArgs);

    private static BackendConfig Backend(IReadOnlyDictionary<string, string>? env = null, params string[] extraArgs) =>
        new(true, "x", extraArgs, env ?? new Dictionary<string, string>());

    [Fact]
    public void An_ollama_model_is_sized_for_its_context_on_every_slot_of_the_server()
    {
        var gguf = dir.File("small.gguf");
        new SyntheticModel { Name = "small", Layers = 4, Embedding = 256, Heads = 4, KvHeads = 2, FeedForward = 512, Vocab = 1000, Context = 8192 }.Write(gguf);
        var models = dir.File("ollama");
        var blob = OllamaLayout.Add(models, gguf, "small", "latest");
        var engines = new EngineRequests(new ModelProfileCache());
        var env = new Dictionary<string, string> { ["OLLAMA_NUM_PARALLEL"] = "3", ["OLLAMA_KV_CACHE_TYPE"] = "q8_0" };

        var request = engines.ReadOllama(Model(BackendKind.Ollama, "small", 4096), Backend(env), models, TestContext.Current.CancellationToken);

        // 3 slots of 4096 tokens each (Ollama allocates num_ctx for each), all kept; the floor is 2048 per slot.
        Assert.Equal(blob, request.Model.Path);
        Assert.Equal((4096UL, 2048UL, 3, 3), (request.ContextLength, request.MinContextLength, request.Parallel, request.MinParallel));
        Assert.Equal(new KvCacheType(GgmlType.Q8_0, GgmlType.Q8_0), request.CacheType);
        // Without a context, the model's own (8192), one slot, F16.
        var whole = engines.ReadOllama(Model(BackendKind.Ollama, "small"), Backend(), models, TestContext.Current.CancellationToken);
        Assert.Equal((8192UL, 2048UL, 1, KvCacheType.F16), (whole.ContextLength, whole.MinContextLength, whole.Parallel, whole.CacheType));

        var missing = Assert.Throws<PlanInputException>(() => engines.ReadOllama(Model(BackendKind.Ollama, "other:7b"), Backend(), models, TestContext.Current.CancellationToken));
        Assert.Contains("m: cannot size Ollama model \"other:7b\": ", missing.Message, StringComparison.Ordinal);
        Assert.Contains("no such manifest", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_planned_ollama_load_gets_its_layers_and_the_context_of_one_slot()
    {
        var estimate = new LlamaCppMemoryEstimate("m", 12_288, GgmlType.F16, 5, 4, [], 0, 0, 0);
        var plan = new LoadPlan([0], null, 5, 4096, estimate, []) { Parallel = 3 };

        Assert.Equal(new OllamaOptions(5, 4096), OllamaOptions.For(plan));
    }

    [Fact]
    public void A_vllm_model_is_read_from_its_directory_with_the_flags_that_change_its_size()
    {
        var source = PublishedShape.Llama31_8B.Write(dir.Path);
        var model = Model(BackendKind.Vllm, source, 16_384, "--kv-cache-dtype", "fp8") with { Parallel = 8 };

        var request = EngineRequests.ReadVllm(model, Backend(null, "--enforce-eager"), TestContext.Current.CancellationToken);

        Assert.Equal((16_384UL, 2048UL, 8, VllmKvCacheDtype.Fp8, true), (request.MaxModelLen, request.MinModelLen, request.MaxNumSeqs, request.KvCacheDtype, request.EnforceEager));
        Assert.Equal(32, request.Model.LayerCount);
        // No context: the model's max_position_embeddings; no parallel: 4 sequences.
        var plain = EngineRequests.ReadVllm(Model(BackendKind.Vllm, source), Backend(), TestContext.Current.CancellationToken);
        Assert.Equal((131_072UL, ModelConfig.DefaultParallel, VllmKvCacheDtype.Auto, false), (plain.MaxModelLen, plain.MaxNumSeqs, plain.KvCacheDtype, plain.EnforceEager));
    }

    [Theory]
    [InlineData("--max-model-len", "the model option context")]
    [InlineData("--max-num-seqs", "the model option parallel")]
    [InlineData("--gpu-memory-utilization", "no option (the plan derives it from the GPUs' memory)")]
    [InlineData("--tensor-parallel-size", "the model option gpus (the plan chooses the size from the usable GPUs)")]
    public void Vllm_flags_the_plan_sets_are_refused_in_extra_args(string flag, string instead)
    {
        var source = PublishedShape.Qwen25_05B.Write(dir.Path);

        var refused = Assert.Throws<PlanInputException>(() =>
            EngineRequests.ReadVllm(Model(BackendKind.Vllm, source, 0, $"{flag}=2"), Backend(), TestContext.Current.CancellationToken));

        Assert.Equal($"m: extra_args set {flag}, which ullmd's plan sets (use {instead})", refused.Message);
    }

    [Fact]
    public void A_vllm_source_that_is_no_local_directory_cannot_be_sized()
    {
        var refused = Assert.Throws<PlanInputException>(() =>
            EngineRequests.ReadVllm(Model(BackendKind.Vllm, "org/model"), Backend(), TestContext.Current.CancellationToken));
        Assert.Contains("source org/model is not a model directory on this host", refused.Message, StringComparison.Ordinal);

        var broken = dir.File("broken");
        Directory.CreateDirectory(broken);
        var unreadable = Assert.Throws<PlanInputException>(() =>
            EngineRequests.ReadVllm(Model(BackendKind.Vllm, broken), Backend(), TestContext.Current.CancellationToken));
        Assert.Contains("config.json is missing", unreadable.Message, StringComparison.Ordinal);
    }
}

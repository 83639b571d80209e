using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Tests.Backends;

public sealed class LlamaServerArgumentsTests
{
    private static readonly LlamaCppMemoryEstimate NoEstimate = new("m", 4096, GgmlType.F16, 0, 0, [], 0, 0, 0);

    [Fact]
    public void Single_gpu_plan_gives_placement_alias_and_extra_args_in_order()
    {
        var start = Start(new LoadPlan([1], null, 33, 1024, NoEstimate with { CacheType = new KvCacheType(GgmlType.Q8_0, GgmlType.Q4_0) }, []) { Parallel = 4 }, backendExtra: ["--threads", "4"], modelExtra: ["--temp", "0.2"]);

        var args = LlamaServerArguments.Build(start, 41234);

        Assert.Equal(
            [
                "--model", "/models/qwen.gguf", "--host", "127.0.0.1", "--port", "41234", "--ctx-size", "4096",
                "--n-gpu-layers", "33", "--parallel", "4", "--no-kv-unified", "--cache-type-k", "q8_0", "--cache-type-v", "q4_0",
                "--flash-attn", "auto", "--alias", "qwen", "--threads", "4", "--temp", "0.2",
            ],
            args);
        Assert.Equal("1", LlamaServerArguments.VisibleDevices(start));
        Assert.Equal(4, LlamaServerArguments.Slots(args));
    }

    [Fact]
    public void Split_plan_adds_tensor_split_and_main_gpu_and_shows_both_gpus()
    {
        var start = Start(new LoadPlan([2, 0], [0.625, 0.375], 41, 8192, NoEstimate, []));

        var args = LlamaServerArguments.Build(start, 5000);

        Assert.Equal(
            [
                "--model", "/models/qwen.gguf", "--host", "127.0.0.1", "--port", "5000", "--ctx-size", "8192",
                "--n-gpu-layers", "41", "--parallel", "1", "--no-kv-unified", "--cache-type-k", "f16", "--cache-type-v", "f16",
                "--flash-attn", "auto", "--alias", "qwen",
                "--split-mode", "layer", "--tensor-split", "0.625,0.375", "--main-gpu", "0",
            ],
            args);
        Assert.Equal("2,0", LlamaServerArguments.VisibleDevices(start));
    }

    [Fact]
    public void Cpu_plan_hides_every_gpu()
    {
        var start = Start(new LoadPlan([], null, 0, 512, NoEstimate, []));

        Assert.Contains("--n-gpu-layers", LlamaServerArguments.Build(start, 1));
        Assert.Equal("0", LlamaServerArguments.Build(start, 1)[9]);
        Assert.Equal(string.Empty, LlamaServerArguments.VisibleDevices(start));
    }

    [Fact]
    public void Port_allocator_never_hands_out_a_port_twice_until_released()
    {
        var ports = new PortAllocator();
        var handedOut = Enumerable.Range(0, 50).Select(_ => ports.Allocate()).ToList();

        Assert.Equal(handedOut.Count, handedOut.Distinct().Count());
        Assert.All(handedOut, p => Assert.True(ports.IsAllocated(p)));
        ports.Release(handedOut[0]);
        Assert.False(ports.IsAllocated(handedOut[0]));
    }

    private static BackendStart Start(LoadPlan plan, IReadOnlyList<string>? backendExtra = null, IReadOnlyList<string>? modelExtra = null) =>
        new(
            new ModelConfig("qwen", BackendKind.LlamaCpp, "/models/qwen.gguf", [], 4096, null, TimeSpan.FromMinutes(5), 0, false, modelExtra ?? []),
            plan,
            new BackendConfig(true, "/usr/bin/llama-server", backendExtra ?? [], new Dictionary<string, string>()),
            "ullm-qwen-1.service");
}

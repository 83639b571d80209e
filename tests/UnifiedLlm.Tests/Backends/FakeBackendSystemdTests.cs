using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;
using UnifiedLlm.Tests.Systemd;
using static UnifiedLlm.Tests.Backends.FakeBackendBed;
using PublishedShape = UnifiedLlm.Tests.Models.PublishedShape;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// The Ollama and vLLM drivers in a real ullmd on the systemd supervisor: the real systemd of a container
/// (<see cref="SystemdContainerFixture"/>) runs each backend as a sandboxed transient unit in ullm.slice, and
/// tests/tools/FakeBackends plays Ollama and vLLM, which cannot run here (two GPUs from the fake libnvidia-ml, as in
/// <see cref="FakeBackendDriverTests"/>, which runs the same drivers under the plain-process supervisor).
/// </summary>
[Collection(FakeNvmlTests.Name)]
public sealed class FakeBackendSystemdTests(FakeNvmlBuild nvml, SystemdContainerFixture container) : IClassFixture<SystemdContainerFixture>, IDisposable
{
    private readonly FakeBackendBed bed = FakeBackendBed.UnderSystemd(container, "ullm-fb-systemd");

    public void Dispose() => bed.Dispose();

    [Fact(Timeout = 240_000)]
    public async Task An_ollama_server_in_a_unit_loads_on_demand_with_its_sizing_comes_back_after_a_crash_is_adopted_after_ullmd_is_killed_and_unloads_after_a_ttl()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        await using var first = await bed.StartOllamaAndVllmAsync(gpus, """
            [models.ol]
            backend = "ollama"
            source = "qwen:0.5b"
            context = 2048

            [models.brief]
            backend = "ollama"
            source = "brief:1b"
            context = 1024
            ttl_seconds = 2
            """, ollamaTags: "brief:1b");
        JsonNode restarted;
        using (var http = GatewayHost.UnixClient(first.Paths.OpenAiSocket))
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{first.Output}");
            var events = await StreamingProxyTests.StreamAsync(http, Http.Chat("ol", stream: true));
            Assert.Equal("[DONE]", events[^1].Data);

            var server = bed.Starts().Single();
            AssertInUnit(server, dynamicUser: false);
            Assert.Equal(["serve"], Argv(server));
            Assert.Equal(Path.Combine(first.Paths.DataDir, "ollama"), server["env"]!["OLLAMA_MODELS"]!.GetValue<string>());
            Assert.Equal("1", server["env"]!["OLLAMA_NUM_PARALLEL"]!.GetValue<string>());
            Assert.Null(server["env"]!["ULLM_TEST_SECRET"]);
            // The same plan as under plain processes: the 4 layers and the output head on a GPU, the configured context.
            var load = bed.Requests().First(r => r["path"]!.GetValue<string>() == "/api/generate");
            Assert.Equal(2048, load["body"]!["options"]!["num_ctx"]!.GetValue<long>());
            Assert.Equal(5, load["body"]!["options"]!["num_gpu"]!.GetValue<int>());

            // The server crashes: systemd reports the unit's end, ullmd logs a failure, and the next request starts a new unit.
            var failuresBefore = Failures(first, "ol");
            bed.Kill(server);
            await WaitUntilAsync(() => Failures(first, "ol") > failuresBefore, ct);
            Assert.Contains("failure: ol:", first.Output, StringComparison.Ordinal);
            var (afterCrash, crashBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(afterCrash == 200, $"{afterCrash} {crashBody}\n{first.Output}");
            restarted = bed.Starts()[^1];
            Assert.Equal(2, bed.Starts().Count);
            AssertInUnit(restarted, dynamicUser: false);
        }

        // The unit outlives the killed ullmd, and the next one adopts the model in it.
        await using var second = await bed.KillAndAdoptAsync(first, restarted, "ol");
        using (var http = GatewayHost.UnixClient(second.Paths.OpenAiSocket))
        {
            // Another model in the same server, idle past its ttl: unloaded with keep_alive 0, the server kept for ol.
            var (brief, briefBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("brief")));
            Assert.True(brief == 200, $"{brief} {briefBody}\n{second.Output}");
            Assert.Equal(1024, bed.Requests().Last(r => (string?)r["body"]?["model"] == "brief:1b" && r["body"]?["options"] is not null)["body"]!["options"]!["num_ctx"]!.GetValue<long>());
            await WaitUntilAsync(() => bed.Requests().Any(r => (string?)r["body"]?["model"] == "brief:1b" && r["body"]?["keep_alive"]?.ToJsonString() == "0"), ct);
            await WaitUntilAsync(() => second.Output.Contains("brief: stopped (idle for 2 s (ttl))", StringComparison.Ordinal), ct);
            Assert.True(bed.Alive(restarted));
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task A_vllm_engine_in_a_unit_starts_with_its_planned_limits_comes_back_after_a_crash_is_adopted_after_ullmd_is_killed_and_an_embedding_engine_unloads_after_a_ttl()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        await using var first = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            parallel = 2

            [models.brief]
            backend = "vllm"
            source = "{{qwen}}"
            context = 1024
            parallel = 1
            ttl_seconds = 2
            extra_args = ["--task", "embed"]
            """);
        JsonNode restarted;
        using (var http = GatewayHost.UnixClient(first.Paths.OpenAiSocket))
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(status == 200, $"{status} {body}\n{first.Output}");
            Assert.Equal("fake reply to: hi", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
            var events = await StreamingProxyTests.StreamAsync(http, Http.Chat("vl", stream: true, extra: ""","stream_options":{"include_usage":true}"""));
            Assert.Equal("[DONE]", events[^1].Data);
            Assert.Contains(events, e => e.Data.Contains("\"usage\"", StringComparison.Ordinal));

            // The figures of FakeBackendDriverTests: 4,309,954,304 B of the H100's 85,899,345,920 B → 0.06, on GPU 0.
            var engine = bed.Starts().Single();
            AssertInUnit(engine, dynamicUser: true);
            var argv = Argv(engine);
            Assert.Equal(["serve", qwen], argv.Take(2));
            Assert.Equal("0.06", Flag(argv, "--gpu-memory-utilization"));
            Assert.Equal("4096", Flag(argv, "--max-model-len"));
            Assert.Equal("2", Flag(argv, "--max-num-seqs"));
            Assert.Equal("1", Flag(argv, "--tensor-parallel-size"));
            Assert.Equal("0", engine["env"]!["CUDA_VISIBLE_DEVICES"]!.GetValue<string>());
            Assert.Null(engine["env"]!["ULLM_TEST_SECRET"]);

            var failuresBefore = Failures(first, "vl");
            bed.Kill(engine);
            await WaitUntilAsync(() => Failures(first, "vl") > failuresBefore, ct);
            var (afterCrash, crashBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(afterCrash == 200, $"{afterCrash} {crashBody}\n{first.Output}");
            restarted = bed.Starts()[^1];
            Assert.Equal(2, bed.Starts().Count);
            AssertInUnit(restarted, dynamicUser: true);
        }

        // The unit outlives the killed ullmd, and the next one adopts the model in it.
        await using var second = await bed.KillAndAdoptAsync(first, restarted, "vl");
        using (var http = GatewayHost.UnixClient(second.Paths.OpenAiSocket))
        {
            // An embedding engine, idle past its ttl: stopped.
            var (brief, briefBody, _) = await Http.SendAsync(http, Http.Post("/v1/embeddings", """{"model":"brief","input":["a","b"]}"""));
            Assert.True(brief == 200, $"{brief} {briefBody}\n{second.Output}");
            Assert.Equal(2, briefBody.GetProperty("data").GetArrayLength());
            var briefEngine = bed.Starts()[^1];
            Assert.Equal("1024", Flag(Argv(briefEngine), "--max-model-len"));
            bed.Pid(briefEngine);
            await WaitUntilAsync(() => second.Output.Contains("brief: stopped (idle for 2 s (ttl))", StringComparison.Ordinal), ct);
            await WaitUntilAsync(() => !bed.Alive(briefEngine), ct);
            Assert.True(bed.Alive(restarted));
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task An_ollama_model_and_a_vllm_engine_in_one_exclusive_group_evict_each_others_units()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        await using var daemon = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.ol]
            backend = "ollama"
            source = "qwen:0.5b"
            context = 2048
            group = "one"

            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 2048
            group = "one"
            """);
        using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
        var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        var ollama = bed.Starts().Single();
        AssertInUnit(ollama, dynamicUser: false);

        // The engine's unit evicts the Ollama model (keep_alive 0), and the server's unit stops with its last model.
        var (toVllm, vllmBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
        Assert.True(toVllm == 200, $"{toVllm} {vllmBody}\n{daemon.Output}");
        Assert.Contains(bed.Requests(), r => r["body"]?["model"]?.GetValue<string>() == "qwen:0.5b" && r["body"]?["keep_alive"]?.ToJsonString() == "0");
        await WaitUntilAsync(() => !bed.Alive(ollama), ct);
        var vllm = bed.Starts().Single(s => s["mode"]!.GetValue<string>() == "vllm");
        AssertInUnit(vllm, dynamicUser: true);

        // And back: the Ollama model evicts the engine's unit.
        var (toOllama, ollamaBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
        Assert.True(toOllama == 200, $"{toOllama} {ollamaBody}\n{daemon.Output}");
        await WaitUntilAsync(() => !bed.Alive(vllm), ct);
        Assert.Contains("vl: draining 0 lease(s) before stopping: swapped out of exclusive group 'one' for ol", daemon.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// The fake runs as the main process of a transient unit of the container's systemd, in ullm.slice (its cgroup says
    /// so), as a dynamic user or as root (Ollama writes its models directory).
    /// </summary>
    private void AssertInUnit(JsonNode start, bool dynamicUser)
    {
        var pid = bed.Pid(start);
        var cgroup = File.ReadAllText($"/proc/{pid}/cgroup");
        Assert.Matches(@"/ullm\.slice/ullm-[^/\n]+\.service\n", cgroup);
        var uid = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        Assert.True(dynamicUser ? uid != "0" : uid == "0", $"uid {uid}: {(dynamicUser ? "a dynamic user" : "root")} was expected");
    }
}

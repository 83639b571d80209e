using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;
using OllamaLayout = UnifiedLlm.Tests.Models.OllamaLayout;
using SyntheticModel = UnifiedLlm.Tests.Models.SyntheticModel;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// The Ollama driver in a real ullmd (plain-process supervisor, two GPUs from the fake libnvidia-ml), run against
/// tests/tools/FakeBackends, which speaks Ollama's documented HTTP and records what it was given: Ollama cannot run on
/// these machines. The vLLM driver has no such test yet: vLLM loads are not sized (issue #20), so every plan gives vLLM a
/// 0 B budget and the driver refuses to start it — this test's vLLM half found that and goes in with #20.
/// </summary>
[Collection(FakeNvmlTests.Name)]
public sealed class FakeBackendDriverTests(FakeNvmlBuild nvml) : IDisposable
{
    private readonly TempDirectory dir = new("ullm-fakebackends");

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 180_000)]
    public async Task An_ollama_model_loads_on_demand_serves_chats_and_streams_unloads_and_comes_back_after_a_crash()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var record = dir.File("record.jsonl");
        var daemon = await StartAsync(gpus, record);
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            Assert.False(string.IsNullOrEmpty(body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()));
            var events = await StreamingProxyTests.StreamAsync(http, Http.Chat("ol", stream: true));
            Assert.Equal("[DONE]", events[^1].Data);

            var server = Starts(record).Single();
            Assert.Equal(["serve"], server["argv"]!.AsArray().Select(a => a!.GetValue<string>()));
            Assert.StartsWith("127.0.0.1:", server["env"]!["OLLAMA_HOST"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal(Path.Combine(daemon.Paths.DataDir, "ollama"), server["env"]!["OLLAMA_MODELS"]!.GetValue<string>());
            Assert.Equal("-1", server["env"]!["OLLAMA_KEEP_ALIVE"]!.GetValue<string>());
            // The backend did not get ullmd's own environment.
            Assert.Null(server["env"]!["ULLM_TEST_SECRET"]);
            var load = Requests(record).First(r => r["path"]!.GetValue<string>() == "/api/generate");
            Assert.Equal("qwen:0.5b", load["body"]!["model"]!.GetValue<string>());
            Assert.Equal(2048, load["body"]!["options"]!["num_ctx"]!.GetValue<long>());
            Assert.NotNull(load["body"]!["options"]!["num_gpu"]);
            Assert.Equal("-1", load["body"]!["keep_alive"]!.ToJsonString());

            var unload = await daemon.CtlAsync("unload", "ol");
            Assert.True(unload.ExitCode == 0, unload.ToString());
            Assert.Contains(Requests(record), r => r["body"]?["model"]?.GetValue<string>() == "qwen:0.5b" && r["body"]?["keep_alive"]?.ToJsonString() == "0");
            // The shared server stops with its last model.
            await WaitUntilAsync(() => !ProcessAlive(server["pid"]!.GetValue<int>()), ct);

            // Loaded again on demand, then the server crashes: the next request starts a new one.
            var (reloaded, _, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.Equal(200, reloaded);
            var second = Starts(record)[^1];
            var failuresBefore = Failures(daemon);
            Signals.Send(second["pid"]!.GetValue<int>(), Signals.Kill);
            await WaitUntilAsync(() => Failures(daemon) > failuresBefore, ct);
            var (afterCrash, crashBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(afterCrash == 200, $"{afterCrash} {crashBody}\n{daemon.Output}");
            Assert.Equal(3, Starts(record).Count);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task An_idle_ollama_model_is_unloaded_after_its_ttl_with_keep_alive_zero()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var record = dir.File("record.jsonl");
        var daemon = await StartAsync(gpus, record, ttlSeconds: 2);
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            var server = Starts(record).Single();

            await WaitUntilAsync(() => Requests(record).Any(r => r["body"]?["keep_alive"]?.ToJsonString() == "0"), ct);
            await WaitUntilAsync(() => !ProcessAlive(server["pid"]!.GetValue<int>()), ct);
            Assert.Contains("idle for 2 s (ttl)", daemon.Output, StringComparison.Ordinal);
        }
    }

    private async Task<DaemonProcess> StartAsync(FakeGpuHost gpus, string record, int ttlSeconds = 0)
    {
        var fake = RepoPaths.FakeBackends;
        Assert.True(File.Exists(fake), $"{fake} is missing: the test project's reference builds it");
        dir.Write("ollama", $"#!/bin/sh\nexec dotnet '{fake}' \"$@\"\n");
        File.SetUnixFileMode(dir.File("ollama"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var paths = DaemonProcess.WriteConfig(dir, $$"""
            [gpu]
            nvml_library = "{{gpus.LibraryPath}}"

            [backends.ollama]
            enabled = true
            executable = "{{dir.File("ollama")}}"
            env = { FAKE_BACKEND = "ollama", FAKE_RECORD_FILE = "{{record}}", FAKE_OLLAMA_MODELS = "qwen:0.5b", FAKE_LOAD_DELAY_MS = "300" }

            [models.ol]
            backend = "ollama"
            source = "qwen:0.5b"
            context = 2048
            ttl_seconds = {{ttlSeconds}}
            """, serverExtra: "supervisor = \"process\"");
        // Pulled as Ollama pulls it into ullmd's OLLAMA_MODELS: ullmd sizes the load from this GGUF.
        var gguf = dir.File("qwen.gguf");
        Tiny.Write(gguf);
        OllamaLayout.Add(Path.Combine(paths.DataDir, "ollama"), gguf, "qwen", "0.5b");
        var daemon = await DaemonProcess.StartAsync(dir, paths, new Dictionary<string, string> { ["ULLM_TEST_SECRET"] = "must-not-reach-a-backend" });
        await daemon.Notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(60));
        return daemon;
    }

    /// <summary>A small GGUF of llama shape: 4 layers, n_embd 256, 4 heads / 2 KV heads, 8192-token training context.</summary>
    private static SyntheticModel Tiny => new() { Name = "tiny", Layers = 4, Embedding = 256, Heads = 4, KvHeads = 2, FeedForward = 512, Vocab = 1000, Context = 8192 };

    private static List<JsonNode> Lines(string record) =>
        File.Exists(record) ? [.. File.ReadAllLines(record).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!)] : [];

    private static List<JsonNode> Starts(string record) => [.. Lines(record).Where(l => l["event"]!.GetValue<string>() == "start")];

    private static List<JsonNode> Requests(string record) => [.. Lines(record).Where(l => l["event"]!.GetValue<string>() == "request")];

    /// <summary>The failure events ullmd has logged: a crash is one once its exit is seen.</summary>
    private static int Failures(DaemonProcess daemon) =>
        daemon.Output.Split('\n').Count(l => l.Contains("failure: ol:", StringComparison.Ordinal));

    private static bool ProcessAlive(int pid) =>
        File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].StartsWith('Z');

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true within 30 s");
            await Task.Delay(50, ct);
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;
using static UnifiedLlm.Tests.Backends.FakeBackendBed;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// The generic backend kind in a real ullmd (plain-process supervisor): a real llama-server run as a generic backend
/// (load on demand, chat, stream, rerank on both paths, an endpoint it does not declare, TTL unload, eviction by the
/// declared footprint on a GPU from the fake libnvidia-ml, and the measured footprint replacing the declaration), and
/// tests/tools/FakeBackends in its generic mode for the ways a server fails to come up.
/// </summary>
[Collection(FakeNvmlTests.Name)]
public sealed class GenericBackendTests(FakeNvmlBuild nvml) : IDisposable
{
    private const ulong MiB = 1 << 20;
    private readonly FakeBackendBed bed = FakeBackendBed.UnderProcesses("ullm-generic");

    private TempDirectory Dir => bed.Dir;

    public void Dispose() => bed.Dispose();

    [Fact(Timeout = 180_000)]
    public async Task Llama_server_as_a_generic_backend_loads_on_demand_chats_streams_reranks_and_unloads_after_its_ttl()
    {
        var ct = TestContext.Current.CancellationToken;
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        TinyModel.Write(Dir.File("tiny.gguf"));
        var paths = DaemonProcess.WriteConfig(Dir, $$"""
            {{LlamaBackend(llamaServer, "endpoints = [\"chat\", \"completions\", \"rerank\"]")}}

            [models.tiny]
            backend = "llama"
            source = "{{Dir.File("tiny.gguf")}}"
            context = 256
            memory_mib = 300
            ttl_seconds = 2
            """, serverExtra: bed.Supervisor);
        await using var daemon = await DaemonProcess.StartAsync(Dir, paths);
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        // Not declared: refused before anything loads.
        var (refused, refusal, _) = await Http.SendAsync(http, Http.Post("/v1/embeddings", """{"model":"tiny","input":"x"}"""));
        Assert.Equal(400, refused);
        Assert.Equal("tiny: its backend 'llama' does not serve embeddings (it serves: chat, completions, rerank)", Http.ErrorMessage(refusal));
        Assert.Empty(BackendProcessScan.Find(Outputs(paths)));

        var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":4")));
        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        Assert.False(string.IsNullOrEmpty(body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()));
        var events = await StreamingProxyTests.StreamAsync(http, Http.Chat("tiny", stream: true, extra: ",\"max_tokens\":4"));
        Assert.Equal("[DONE]", events[^1].Data);
        foreach (var path in (string[])["/v1/rerank", "/rerank"])
        {
            var (reranked, ranking, _) = await Http.SendAsync(http, Http.Post(path, """{"model":"tiny","query":"hello","documents":["a","b hello","c"],"top_n":2}"""));
            Assert.True(reranked == 200, $"{path}: {reranked} {ranking}");
            var results = ranking.GetProperty("results").EnumerateArray().ToList();
            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.InRange(r.GetProperty("index").GetInt32(), 0, 2));
            Assert.All(results, r => r.GetProperty("relevance_score").GetDouble());
        }

        var backend = Assert.Single(BackendProcessScan.Find(Outputs(paths)));
        var argv = await File.ReadAllTextAsync($"/proc/{backend.Pid}/cmdline", ct);
        Assert.Equal(
            $"{llamaServer}\0-m\0{Dir.File("tiny.gguf")}\0--host\0127.0.0.1\0--port\0{PortOf(argv)}\0-c\0256\0--alias\0tiny\0--reranking\0",
            argv);
        Assert.Contains("footprint declared", daemon.Output, StringComparison.Ordinal);

        await WaitUntilAsync(() => daemon.Output.Contains("idle for 2 s (ttl)", StringComparison.Ordinal) && BackendProcessScan.StartTime(backend.Pid) is null, ct);
        Assert.Contains("tiny: measured footprint: host", daemon.Output, StringComparison.Ordinal);

        // The next load plans with what the first one measured (its resident memory on this CPU host).
        var (again, _, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":4")));
        Assert.Equal(200, again);
        Assert.Contains("footprint measured", daemon.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task After_SIGKILL_the_next_ullmd_adopts_the_running_generic_backend_and_a_clean_stop_ends_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        TinyModel.Write(Dir.File("tiny.gguf"));
        var paths = DaemonProcess.WriteConfig(Dir, $$"""
            {{LlamaBackend(llamaServer, "")}}

            [models.tiny]
            backend = "llama"
            source = "{{Dir.File("tiny.gguf")}}"
            context = 256
            memory_mib = 300
            """, serverExtra: bed.Supervisor);
        FoundBackend? backend = null;
        try
        {
            await using (var first = await DaemonProcess.StartAsync(Dir, paths))
            {
                using var http = GatewayHost.UnixClient(paths.OpenAiSocket);
                Assert.Equal(200, (await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":2")))).Status);
                backend = Assert.Single(BackendProcessScan.Find(Outputs(paths)));
                Signals.Send(first.Pid, Signals.Kill);
                await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
            }

            await using var second = await DaemonProcess.StartAsync(Dir, paths);
            using (var http = GatewayHost.UnixClient(paths.OpenAiSocket))
            {
                Assert.Equal(200, (await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":2")))).Status);
            }

            Assert.Equal(backend, Assert.Single(BackendProcessScan.Find(Outputs(paths))));
            Assert.Contains("adopted", second.Output, StringComparison.Ordinal);
            Assert.Equal(0, await second.StopAsync());
            await WaitUntilAsync(() => BackendProcessScan.StartTime(backend.Pid) is null, ct);
        }
        finally
        {
            if (backend is not null && BackendProcessScan.StartTime(backend.Pid) is not null)
            {
                ProcessGroupSignals.Send(backend.Pid, ProcessGroupSignals.Kill);
            }
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task A_generic_model_is_placed_and_evicted_by_its_declared_footprint_until_a_measured_one_replaces_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        TinyModel.Write(Dir.File("tiny.gguf"));
        using var gpus = new FakeGpuHost(nvml.Current, OneGpu(usedMib: 0));
        var paths = DaemonProcess.WriteConfig(Dir, $$"""
            [gpu]
            nvml_library = "{{gpus.LibraryPath}}"
            poll_interval_seconds = 0.2

            {{LlamaBackend(llamaServer, "")}}

            [models.a]
            backend = "llama"
            source = "{{Dir.File("tiny.gguf")}}"
            context = 256
            memory_mib = 300
            gpu_memory_mib = 6000

            [models.b]
            backend = "llama"
            source = "{{Dir.File("tiny.gguf")}}"
            context = 256
            memory_mib = 300
            gpu_memory_mib = 6000
            """, serverExtra: bed.Supervisor);
        await using var daemon = await DaemonProcess.StartAsync(Dir, paths);
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        Assert.Equal(200, (await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("a", extra: ",\"max_tokens\":2")))).Status);
        var a = Assert.Single(BackendProcessScan.Find(Outputs(paths)));
        Assert.Equal("0", EnvironmentOf(a.Pid)["CUDA_VISIBLE_DEVICES"]);
        Assert.Contains("a: ready at", daemon.Output, StringComparison.Ordinal);
        Assert.Contains("GPU0, n_ctx 256, evicting nothing, footprint declared", daemon.Output, StringComparison.Ordinal);

        // What NVML now reports for a's process: less than declared, and too much for b to fit beside it.
        gpus.Configure(OneGpu(usedMib: 5000, $"gpu0.process={a.Pid}:{5000 * MiB}"));
        await WaitUntilAsync(() => daemon.Output.Contains("a: measured footprint: host", StringComparison.Ordinal), ct);
        Assert.Contains("4.88 GiB on each of 1 GPU(s)", daemon.Output, StringComparison.Ordinal);

        var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("b", extra: ",\"max_tokens\":2")));
        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        Assert.Contains("a: draining 0 lease(s) before stopping: evicted to make room for b", daemon.Output, StringComparison.Ordinal);
        await WaitUntilAsync(() => BackendProcessScan.StartTime(a.Pid) is null, ct);
        var b = Assert.Single(BackendProcessScan.Find(Outputs(paths)));

        // a comes back planned with its measurement (4.88 GiB, not the declared 5.86 GiB) and evicts b to fit.
        gpus.Configure(OneGpu(usedMib: 5000, $"gpu0.process={b.Pid}:{5000 * MiB}"));
        await WaitUntilAsync(() => daemon.Output.Contains("b: measured footprint: host", StringComparison.Ordinal), ct);
        Assert.Equal(200, (await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("a", extra: ",\"max_tokens\":2")))).Status);
        Assert.Contains("evicted to make room for a", daemon.Output, StringComparison.Ordinal);
        Assert.Matches(@"a: ready at .*GPU0, n_ctx 256, evicting b, footprint measured [^\n]*\): host [0-9.]+ MiB, 4\.88 GiB on each GPU", daemon.Output);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_server_that_never_gets_ready_exits_answers_the_wrong_health_status_or_lost_its_port_fails_its_load_saying_why()
    {
        var ct = TestContext.Current.CancellationToken;
        var fake = bed.FakeProgram("fake");
        var record = bed.RecordForBackends;
        var go = Dir.File("go");
        string Backend(string mode, double readySeconds) => $$"""
            [backends.{{mode}}]
            kind = "generic"
            command = ["{{fake}}", "--port", "${PORT}"]
            env = { FAKE_BACKEND = "generic", FAKE_GENERIC = "{{mode}}", FAKE_RECORD_FILE = "{{record}}", FAKE_GO_FILE = "{{go}}" }
            ready_timeout_seconds = {{readySeconds}}

            [models.{{mode}}-model]
            backend = "{{mode}}"
            source = "none"
            memory_mib = 10
            """;
        var paths = DaemonProcess.WriteConfig(
            Dir,
            string.Join("\n", Backend("never-ready", 6), Backend("health-status", 6), Backend("exit", 60), Backend("port-taken", 60)),
            serverExtra: bed.Supervisor);
        await using var daemon = await DaemonProcess.StartAsync(Dir, paths);
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        async Task<string> FailedLoad(string model)
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat(model)));
            Assert.True(status == 503, $"{model}: {status} {body}");
            return Http.ErrorMessage(body);
        }

        Assert.Matches(@"^never-ready-model: never-ready-model failed to load: not ready within 6 s \(ready_timeout_seconds; last: http://127\.0\.0\.1:\d+/health answered 503, expected 200 \(health_status\)\); its last output:\n  fake-generic: listening on", await FailedLoad("never-ready-model"));
        Assert.Matches(@"not ready within 6 s \(ready_timeout_seconds; last: http://127\.0\.0\.1:\d+/health answered 204, expected 200 \(health_status\)\)", await FailedLoad("health-status-model"));
        var exited = await FailedLoad("exit-model");
        Assert.Contains($"exit-model failed to load: {Dir.File("fake")} exited before it was ready (exited with status 3); its last output:\n  fake-generic: loading weights\n  fake-generic: error: the weights file is truncated", exited, StringComparison.Ordinal);

        // Another program takes the port between ullmd choosing it and the server listening on it, and answers /health.
        var load = FailedLoad("port-taken-model");
        var port = await PortFromRecordAsync("port-taken", ct);
        using var thief = new TcpListener(IPAddress.Loopback, port);
        thief.Start();
        await File.WriteAllTextAsync(go, "", ct);
        var server = BackendProcessScan.Find(Outputs(paths)).Single(b => b.Model == "port-taken-model");
        await WaitUntilAsync(() => File.ReadAllText(server.OutputFile).Contains("cannot listen", StringComparison.Ordinal), ct);
        var answering = AnswerHealthAsync(thief, ct);
        var taken = await load;
        var expected = $"port-taken-model failed to load: port {port} answers http://127.0.0.1:{port}/health, but from a program that is not the backend: "
            + $"the port was taken before {Dir.File("fake")} could listen on it; its last output:\n  fake-generic: cannot listen on 127.0.0.1:{port}";
        Assert.True(taken.Contains(expected, StringComparison.Ordinal), taken);
        thief.Stop();
        await answering;

        // Every failed server was stopped.
        await WaitUntilAsync(() => BackendProcessScan.Find(Outputs(paths)).Count == 0, ct);
    }

    private static string LlamaBackend(string llamaServer, string extra) => $$"""
        [backends.llama]
        kind = "generic"
        command = ["{{llamaServer}}", "-m", "${MODEL_PATH}", "--host", "${HOST}", "--port", "${PORT}", "-c", "${CTX}", "--alias", "${MODEL_NAME}", "--reranking"]
        health = "/health"
        ready_timeout_seconds = 60
        {{extra}}
        """;

    private static string OneGpu(long usedMib, string process = "") => $"""
        driver_version=550.54.14
        gpu_count=1
        gpu0.name=NVIDIA A10
        gpu0.uuid=GPU-66666666-7777-8888-9999-000000000000
        gpu0.pci_bus_id=00000000:B3:00.0
        gpu0.minor=0
        gpu0.memory_total={10240 * MiB}
        gpu0.memory_used={(ulong)usedMib * MiB}
        gpu0.utilization_gpu=0
        gpu0.utilization_memory=0
        {process}
        """;

    private static string Outputs(DaemonPaths paths) => Path.Combine(paths.DataDir, "backends");

    private static string PortOf(string argv)
    {
        var parts = argv.Split('\0');
        return parts[Array.IndexOf(parts, "--port") + 1];
    }

    private static Dictionary<string, string> EnvironmentOf(int pid) =>
        File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v.Length > 1 ? v[1] : "");

    private async Task<int> PortFromRecordAsync(string mode, CancellationToken ct)
    {
        int? port = null;
        await WaitUntilAsync(() =>
        {
            var start = bed.Starts().LastOrDefault(l => l["env"]?["FAKE_GENERIC"]?.GetValue<string>() == mode);
            port = start is null ? null : int.Parse(start["argv"]![1]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
            return port is not null;
        }, ct);
        return port!.Value;
    }

    /// <summary>Answers every connection with 200 and no body, as any HTTP server's /health might.</summary>
    private static async Task AnswerHealthAsync(TcpListener listener, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync(ct);
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var read = 0;
                while (!Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal) && read < buffer.Length)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), ct);
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                }

                await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), ct);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException or OperationCanceledException or IOException)
        {
            // Stopped by the test.
        }
    }
}

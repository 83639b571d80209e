using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;
using static UnifiedLlm.Tests.Backends.FakeBackendBed;
using OllamaLayout = UnifiedLlm.Tests.Models.OllamaLayout;
using PublishedShape = UnifiedLlm.Tests.Models.PublishedShape;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// The Ollama and vLLM drivers in a real ullmd (plain-process supervisor, two GPUs from the fake libnvidia-ml: an 80 GiB
/// H100 with 10 GiB in use and a 24 GB A10), run against tests/tools/FakeBackends, which speaks Ollama's and vLLM's
/// documented HTTP and records what it was given: neither can run on these machines. The sizing each driver sends is
/// asserted at the fake, figures worked out in the comments.
/// </summary>
[Collection(FakeNvmlTests.Name)]
public sealed class FakeBackendDriverTests(FakeNvmlBuild nvml) : IDisposable
{
    private readonly FakeBackendBed bed = FakeBackendBed.UnderProcesses("ullm-fakebackends");

    public void Dispose() => bed.Dispose();

    [Fact(Timeout = 180_000)]
    public async Task An_ollama_model_loads_on_demand_serves_chats_streams_and_embeddings_unloads_and_comes_back_after_a_crash()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, OllamaModel());
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            Assert.False(string.IsNullOrEmpty(body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()));
            var events = await StreamingProxyTests.StreamAsync(http, Http.Chat("ol", stream: true));
            Assert.Equal("[DONE]", events[^1].Data);
            var (embedded, embeddings, _) = await Http.SendAsync(http, Http.Post("/v1/embeddings", """{"model":"ol","input":["a","b"]}"""));
            Assert.True(embedded == 200, $"{embedded} {embeddings}\n{daemon.Output}");
            Assert.Equal(2, embeddings.GetProperty("data").GetArrayLength());
            Assert.Contains(bed.Requests(), r => r["path"]!.GetValue<string>() == "/v1/embeddings" && r["body"]?["model"]?.GetValue<string>() == "qwen:0.5b");

            var server = bed.Starts().Single();
            Assert.Equal(["serve"], server["argv"]!.AsArray().Select(a => a!.GetValue<string>()));
            Assert.StartsWith("127.0.0.1:", server["env"]!["OLLAMA_HOST"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal(Path.Combine(daemon.Paths.DataDir, "ollama"), server["env"]!["OLLAMA_MODELS"]!.GetValue<string>());
            Assert.Equal("-1", server["env"]!["OLLAMA_KEEP_ALIVE"]!.GetValue<string>());
            // The backend did not get ullmd's own environment.
            Assert.Null(server["env"]!["ULLM_TEST_SECRET"]);
            // ullmd's decisions, not Ollama's defaults: one slot per model, room for every configured Ollama model.
            Assert.Equal("1", server["env"]!["OLLAMA_NUM_PARALLEL"]!.GetValue<string>());
            Assert.Equal("1", server["env"]!["OLLAMA_MAX_LOADED_MODELS"]!.GetValue<string>());
            var load = bed.Requests().First(r => r["path"]!.GetValue<string>() == "/api/generate");
            Assert.Equal("qwen:0.5b", load["body"]!["model"]!.GetValue<string>());
            // The plan for the GGUF behind qwen:0.5b's manifest: its 4 layers and the output head fit on a GPU (num_gpu 5)
            // at the configured context.
            Assert.Equal(2048, load["body"]!["options"]!["num_ctx"]!.GetValue<long>());
            Assert.Equal(5, load["body"]!["options"]!["num_gpu"]!.GetValue<int>());
            Assert.Equal("-1", load["body"]!["keep_alive"]!.ToJsonString());

            var unload = await daemon.CtlAsync("unload", "ol");
            Assert.True(unload.ExitCode == 0, unload.ToString());
            Assert.Contains(bed.Requests(), r => r["body"]?["model"]?.GetValue<string>() == "qwen:0.5b" && r["body"]?["keep_alive"]?.ToJsonString() == "0");
            // The shared server stops with its last model.
            await WaitUntilAsync(() => !bed.Alive(server), ct);

            // Loaded again on demand, then the server crashes: the next request starts a new one.
            var (reloaded, _, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.Equal(200, reloaded);
            var second = bed.Starts()[^1];
            var failuresBefore = Failures(daemon, "ol");
            bed.Kill(second);
            await WaitUntilAsync(() => Failures(daemon, "ol") > failuresBefore, ct);
            var (afterCrash, crashBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(afterCrash == 200, $"{afterCrash} {crashBody}\n{daemon.Output}");
            Assert.Equal(3, bed.Starts().Count);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task A_model_pulled_through_ollamas_api_is_sized_from_the_files_the_pull_wrote_and_loads()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var registry = bed.Dir.File("registry");
        var gguf = bed.Dir.File("pulled.gguf");
        FakeBackendBed.Tiny.Write(gguf);
        OllamaLayout.Add(registry, gguf, "pulled", "1b");
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, OllamaModel() + """

            [models.pl]
            backend = "ollama"
            source = "pulled:1b"
            context = 1024
            """, ollamaEnv: $", FAKE_OLLAMA_REGISTRY = \"{registry}\"");
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");

            // Not pulled yet: the load is refused by its sizing, naming what is missing.
            var (missing, missingBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("pl")));
            Assert.Equal(503, missing);
            Assert.Contains("no such manifest: \"pulled:1b\"", Http.ErrorMessage(missingBody), StringComparison.Ordinal);

            using var ollama = new HttpClient { BaseAddress = new Uri($"http://{bed.Starts().Single()["env"]!["OLLAMA_HOST"]!.GetValue<string>()}/") };
            var pull = await PullAsync(ollama, "pulled:1b", ct);
            Assert.Equal("pulling manifest", (string?)pull[0]["status"]);
            Assert.Contains(pull, l => (string?)l["status"] is { } s && s.StartsWith("pulling ", StringComparison.Ordinal) && l["completed"] is not null && l["total"] is not null);
            Assert.Equal(["verifying sha256 digest", "writing manifest", "success"], pull[^3..].Select(l => (string?)l["status"]));
            Assert.Equal("pull model manifest: file does not exist", (string?)(await PullAsync(ollama, "nope:1b", ct))[^1]["error"]);

            var (loaded, loadedBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("pl")));
            Assert.True(loaded == 200, $"{loaded} {loadedBody}\n{daemon.Output}");
            var load = bed.Requests().Single(r => r["path"]!.GetValue<string>() == "/api/generate" && (string?)r["body"]!["model"] == "pulled:1b");
            Assert.Equal(1024, load["body"]!["options"]!["num_ctx"]!.GetValue<long>());
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task An_idle_ollama_model_is_unloaded_after_its_ttl_with_keep_alive_zero()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, OllamaModel(ttlSeconds: 2));
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            var server = bed.Starts().Single();

            await WaitUntilAsync(() => bed.Requests().Any(r => r["body"]?["keep_alive"]?.ToJsonString() == "0"), ct);
            await WaitUntilAsync(() => !bed.Alive(server), ct);
            Assert.Contains("idle for 2 s (ttl)", daemon.Output, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task A_vllm_model_starts_with_its_planned_limits_serves_chat_streams_and_embeddings_comes_back_after_a_crash_and_unloads_after_its_ttl()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            parallel = 2
            ttl_seconds = 5

            [models.emb]
            backend = "vllm"
            source = "{{qwen}}"
            context = 1024
            extra_args = ["--task", "embed"]
            """);
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (embedded, embeddings, _) = await Http.SendAsync(http, Http.Post("/v1/embeddings", """{"model":"emb","input":["a","b"]}"""));
            Assert.True(embedded == 200, $"{embedded} {embeddings}\n{daemon.Output}");
            Assert.Equal(2, embeddings.GetProperty("data").GetArrayLength());
            Assert.Equal("1024", Flag(Argv(bed.Starts().Single(s => Argv(s).Contains("emb"))), "--max-model-len"));

            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            Assert.Equal("fake reply to: hi", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
            var events = await StreamingProxyTests.StreamAsync(http, Http.Chat("vl", stream: true, extra: ""","stream_options":{"include_usage":true}"""));
            Assert.Equal("[DONE]", events[^1].Data);
            Assert.Contains(events, e => e.Data.Contains("\"usage\"", StringComparison.Ordinal));

            // Qwen2.5-0.5B: 988,065,536 B of BF16 weights + 2 sequences × 4096 tokens × 12 KiB of KV (100,663,296 B)
            // + 3 GiB of activations and CUDA graphs = 4,309,954,304 B, 5.02 % of the H100's 85,899,345,920 B → 0.06,
            // on the GPU with the most free memory (the H100), one GPU.
            var vl = bed.Starts().Single(s => Argv(s).Contains("vl"));
            var argv = Argv(vl);
            Assert.Equal(["serve", qwen], argv.Take(2));
            Assert.Equal("0.06", Flag(argv, "--gpu-memory-utilization"));
            Assert.Equal("4096", Flag(argv, "--max-model-len"));
            Assert.Equal("2", Flag(argv, "--max-num-seqs"));
            Assert.Equal("1", Flag(argv, "--tensor-parallel-size"));
            Assert.Equal("0", vl["env"]!["CUDA_VISIBLE_DEVICES"]!.GetValue<string>());
            Assert.Null(vl["env"]!["ULLM_TEST_SECRET"]);
            Assert.Contains("vl: ready at http://127.0.0.1:", daemon.Output, StringComparison.Ordinal);
            Assert.Contains("(GPU0 (4.80 GiB), evicting nothing: vLLM --gpu-memory-utilization 0.06 --max-model-len 4096 --max-num-seqs 2", daemon.Output, StringComparison.Ordinal);
            using var backend = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Flag(argv, "--port")}/") };
            var metrics = await backend.GetStringAsync(new Uri("metrics", UriKind.Relative), ct);
            Assert.Contains("vllm:request_success_total{model_name=\"vl\"} 2.0", metrics, StringComparison.Ordinal);
            Assert.Contains("gpu_memory_utilization=\"0.06\"", metrics, StringComparison.Ordinal);

            // A generative engine refuses embeddings as vLLM does, and ullmd passes the error on.
            var (refused, refusal, _) = await Http.SendAsync(http, Http.Post("/v1/embeddings", """{"model":"vl","input":"a"}"""));
            Assert.True(refused == 400, $"{refused} {refusal}");

            // The engine crashes: a failure event, and the next request starts a new one.
            var failuresBefore = Failures(daemon, "vl");
            bed.Kill(vl);
            await WaitUntilAsync(() => Failures(daemon, "vl") > failuresBefore, ct);
            var (afterCrash, crashBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(afterCrash == 200, $"{afterCrash} {crashBody}\n{daemon.Output}");
            var restarted = bed.Starts().Where(s => Argv(s).Contains("vl")).ToList();
            Assert.Equal(2, restarted.Count);

            // Idle for its ttl: stopped.
            await WaitUntilAsync(() => !bed.Alive(restarted[^1]), ct);
            await WaitUntilAsync(() => daemon.Output.Contains("vl: stopped (idle for 5 s (ttl))", StringComparison.Ordinal), ct);
        }
    }

    [Fact]
    public async Task A_vllm_score_model_reranks_through_ullmd_on_both_paths_and_a_generative_engine_refuses_as_vllm_does()
    {
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.rr]
            backend = "vllm"
            source = "{{qwen}}"
            context = 1024
            parallel = 1
            extra_args = ["--task", "score"]

            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 1024
            parallel = 1
            """);
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            const string Ranking = """{"model":"rr","query":"where do cats sleep","documents":["dogs bark at night","cats sleep in the sun","where is the station"],"top_n":2}""";
            foreach (var path in (string[])["/v1/rerank", "/rerank"])
            {
                var (status, body, _) = await Http.SendAsync(http, Http.Post(path, Ranking));
                Assert.True(status == 200, $"{path}: {status} {body}\n{daemon.Output}");
                // The fake scores the share of the query's four words in each document: 2/4, then 1/4; the third is cut by top_n.
                var results = body.GetProperty("results").EnumerateArray().ToList();
                Assert.Equal([(1, 0.5, "cats sleep in the sun"), (2, 0.25, "where is the station")], results.Select(r =>
                    (r.GetProperty("index").GetInt32(), r.GetProperty("relevance_score").GetDouble(), r.GetProperty("document").GetProperty("text").GetString())));
                Assert.Equal("rr", body.GetProperty("model").GetString());
                Assert.StartsWith("rerank-", body.GetProperty("id").GetString(), StringComparison.Ordinal);
            }

            // ullmd sent both to the engine's /v1/rerank, the client's body as it came.
            var sent = bed.Requests().Where(r => r["path"]!.GetValue<string>() == "/v1/rerank").ToList();
            Assert.Equal(2, sent.Count);
            Assert.All(sent, r => Assert.Equal(2, r["body"]!["top_n"]!.GetValue<int>()));
            Assert.Equal("score", Flag(Argv(bed.Starts().Single()), "--task"));

            // A generative engine has no rerank: vLLM's 400 reaches the client.
            var (refused, refusal, _) = await Http.SendAsync(http, Http.Post("/v1/rerank", Ranking.Replace("\"rr\"", "\"vl\"", StringComparison.Ordinal)));
            Assert.True(refused == 400, $"{refused} {refusal}");
            Assert.Contains("The model does not support Rerank (Score) API", Http.ErrorMessage(refusal), StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task After_ullmd_is_killed_the_next_one_adopts_the_models_in_the_running_ollama_server()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        await using var first = await bed.StartOllamaAndVllmAsync(gpus, OllamaModel());
        using (var http = GatewayHost.UnixClient(first.Paths.OpenAiSocket))
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{first.Output}");
        }

        // The model's record named the server's invocation: the model is adopted in it, and no server is started again.
        var server = bed.Starts().Single();
        await using var second = await bed.KillAndAdoptAsync(first, server, "ol");
        var loadsBefore = bed.Requests().Count(r => r["path"]!.GetValue<string>() == "/api/generate");
        var unload = await second.CtlAsync("unload", "ol");
        Assert.True(unload.ExitCode == 0, unload.ToString());
        Assert.Equal("0", bed.Requests().Where(r => r["path"]!.GetValue<string>() == "/api/generate").Skip(loadsBefore).Single()["body"]!["keep_alive"]!.ToJsonString());
        await WaitUntilAsync(() => !bed.Alive(server), ct);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_vllm_model_split_over_nodes_starts_with_pipeline_stages_on_the_ray_cluster_of_its_config()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            pipeline_parallel_size = 2
            ray_address = "127.0.0.9:6379"
            """);
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");

            // The head's stage on this host's one planned GPU; the second stage is Ray's to place in the cluster.
            await WaitUntilAsync(() => bed.Starts().Count == 1, ct);
            var start = Assert.Single(bed.Starts());
            var argv = Argv(start);
            Assert.Equal("2", Flag(argv, "--pipeline-parallel-size"));
            Assert.Equal("ray", Flag(argv, "--distributed-executor-backend"));
            Assert.Equal("1", Flag(argv, "--tensor-parallel-size"));
            Assert.Equal("127.0.0.9:6379", start["env"]!["RAY_ADDRESS"]!.GetValue<string>());

            // Sized for this host's stage (12 of Qwen2.5-0.5B's 24 layers and the embeddings): the plan ullmd announces
            // with the ready engine says so, with the claim the engine was started with.
            var ready = Assert.Single(daemon.Output.Split('\n'), l => l.Contains("vl: ready at", StringComparison.Ordinal));
            Assert.Contains($"--gpu-memory-utilization {Flag(argv, "--gpu-memory-utilization")} ", ready, StringComparison.Ordinal);
            Assert.Contains("--pipeline-parallel-size 2; this host runs pipeline stage 1 of 2, sized for the token embeddings and layers 0-11 of 24", ready, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task Two_vllm_engines_pinned_to_different_gpus_start_together_neither_waiting_for_the_other_to_be_ready()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        var go = bed.Dir.File("go");
        await using var daemon = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.left]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            gpus = [0]

            [models.right]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            gpus = [1]
            """, vllmEnv: $", FAKE_GO_FILE = \"{go}\"");
        using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
        var left = Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("left")));
        var right = Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("right")));

        // Each engine is held before it listens until the go file exists: both started, so neither waited for the other.
        await WaitUntilAsync(() => bed.Starts().Count == 2, ct);
        Assert.False(left.IsCompleted || right.IsCompleted, daemon.Output);
        await File.WriteAllTextAsync(go, "", ct);
        foreach (var (status, body, _) in await Task.WhenAll(left, right))
        {
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        }

        Assert.Equal(["0", "1"], bed.Starts().Select(s => s["env"]!["CUDA_VISIBLE_DEVICES"]!.GetValue<string>()).Order());
    }

    [Fact(Timeout = 180_000)]
    public async Task Plan_shows_the_gpus_and_flags_that_the_vllm_and_ollama_loads_that_follow_it_get()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        await using var daemon = await bed.StartOllamaAndVllmAsync(gpus, OllamaModel() + $$"""

            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            """);
        using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);

        // vLLM: the engine starts on the plan's GPUs with the plan's flags; the terms add up to the plan's GPU bytes.
        var vllmText = await daemon.CtlAsync("plan", "vl");
        Assert.True(vllmText.ExitCode == 0, vllmText.ToString());
        Assert.Contains("backend args: --gpu-memory-utilization ", vllmText.StandardOutput, StringComparison.Ordinal);
        using (var vllmPlan = await PlanAsync(daemon, "vl"))
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            var plan = vllmPlan.RootElement;
            var engine = bed.Starts().Single(s => s["mode"]!.GetValue<string>() == "vllm");
            var argv = string.Join(' ', Argv(engine));
            var planned = plan.GetProperty("backendArgs").EnumerateArray().Select(a => a.GetString()!).ToList();
            Assert.Equal(4, planned.Count);
            Assert.All(planned, flag => Assert.Contains(flag, argv, StringComparison.Ordinal));
            Assert.Equal(string.Join(',', plan.GetProperty("gpus").EnumerateArray().Select(g => g.GetUInt32())), engine["env"]!["CUDA_VISIBLE_DEVICES"]!.GetValue<string>());
            // Protobuf's JSON writes 64-bit integers as strings.
            Assert.Equal(
                ulong.Parse(plan.GetProperty("gpuBytes").GetString()!, CultureInfo.InvariantCulture),
                plan.GetProperty("terms").EnumerateArray().Aggregate(0UL, (sum, t) => sum + ulong.Parse(t.GetProperty("bytes").GetString()!, CultureInfo.InvariantCulture)));
        }

        // Ollama, with the engine loaded: the load request carries the plan's layers and context as its options.
        using (var ollamaPlan = await PlanAsync(daemon, "ol"))
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            await WaitUntilAsync(() => bed.Requests().Any(r => r["path"]!.GetValue<string>() == "/api/generate"), ct);
            var options = bed.Requests().First(r => r["path"]!.GetValue<string>() == "/api/generate")["body"]!["options"]!;
            Assert.Equal(
                [$"options.num_gpu {options["num_gpu"]}", $"options.num_ctx {options["num_ctx"]}"],
                ollamaPlan.RootElement.GetProperty("backendArgs").EnumerateArray().Select(a => a.GetString()));
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task After_ullmd_is_killed_the_next_one_adopts_the_running_vllm_engine_and_a_clean_stop_ends_it()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        await using var first = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 4096
            """);
        using (var http = GatewayHost.UnixClient(first.Paths.OpenAiSocket))
        {
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(status == 200, $"{status} {body}\n{first.Output}");
        }

        // Served by the same engine: adopted, not started again; a clean stop of ullmd ends it.
        var engine = bed.Starts().Single();
        await using var second = await bed.KillAndAdoptAsync(first, engine, "vl");
        Assert.Equal(0, await second.StopAsync());
        await WaitUntilAsync(() => !bed.Alive(engine), ct);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_vllm_engine_is_evicted_when_another_needs_its_gpu_memory()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var llama = PublishedShape.Llama31_8B.Write(bed.Dir.Path);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, $$"""
            [models.first]
            backend = "vllm"
            source = "{{llama}}"
            context = 4096
            parallel = 1

            [models.second]
            backend = "vllm"
            source = "{{llama}}"
            context = 4096
            parallel = 1
            """, gpuExtra: "allowed = [1]\npoll_interval_seconds = 0.2");
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("first")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");

            // Llama-3.1-8B on the A10 (24,146,608,128 B): 16,060,522,496 B of weights + 4096 × 128 KiB + 3 GiB
            // = 19,818,618,880 B, 82.08 % → 0.83, a claim of 20,041,684,746 B. NVML then shows it in use.
            var first = bed.Starts().Single();
            Assert.Equal("0.83", Flag(Argv(first), "--gpu-memory-utilization"));
            Assert.Equal("1", first["env"]!["CUDA_VISIBLE_DEVICES"]!.GetValue<string>());
            var pid = first["pid"]!.GetValue<int>();
            gpus.Configure(FakeGpuHost.TwoGpus.Replace("gpu1.memory_used=0", $"gpu1.memory_used=20041684746\ngpu1.process={pid}:20041684746", StringComparison.Ordinal));
            await WaitUntilAsync(async () => (await daemon.CtlAsync("gpus")).StandardOutput.Contains(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal), ct);

            // The second engine's claim does not fit beside it: the idle first engine is evicted, then the second starts.
            var (second, secondBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("second")));
            Assert.True(second == 200, $"{second} {secondBody}\n{daemon.Output}");
            Assert.Contains("first: draining 0 lease(s) before stopping: evicted to make room for second", daemon.Output, StringComparison.Ordinal);
            Assert.False(ProcessAlive(pid));
            Assert.Equal("0.83", Flag(Argv(bed.Starts()[^1]), "--gpu-memory-utilization"));
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task An_ollama_model_and_a_vllm_engine_in_one_exclusive_group_evict_each_other()
    {
        var ct = TestContext.Current.CancellationToken;
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        var qwen = PublishedShape.Qwen25_05B.Write(bed.Dir.Path);
        var daemon = await bed.StartOllamaAndVllmAsync(gpus, OllamaModel(group: "one") + $$"""

            [models.vl]
            backend = "vllm"
            source = "{{qwen}}"
            context = 2048
            group = "one"
            """);
        await using (daemon)
        {
            using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
            var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
            var ollama = bed.Starts().Single();

            // The vLLM engine evicts the Ollama model (keep_alive 0), and the shared server stops with its last model.
            var (toVllm, vllmBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("vl")));
            Assert.True(toVllm == 200, $"{toVllm} {vllmBody}\n{daemon.Output}");
            Assert.Contains(bed.Requests(), r => r["body"]?["model"]?.GetValue<string>() == "qwen:0.5b" && r["body"]?["keep_alive"]?.ToJsonString() == "0");
            await WaitUntilAsync(() => !bed.Alive(ollama), ct);

            // And back: the Ollama model evicts the engine.
            var vllm = bed.Starts().Single(s => s["mode"]!.GetValue<string>() == "vllm");
            var (toOllama, ollamaBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
            Assert.True(toOllama == 200, $"{toOllama} {ollamaBody}\n{daemon.Output}");
            await WaitUntilAsync(() => !bed.Alive(vllm), ct);
            Assert.Contains("vl: draining 0 lease(s) before stopping: swapped out of exclusive group 'one' for ol", daemon.Output, StringComparison.Ordinal);
        }
    }

    private static string OllamaModel(int ttlSeconds = 0, string? group = null) => $$"""
        [models.ol]
        backend = "ollama"
        source = "qwen:0.5b"
        context = 2048
        ttl_seconds = {{ttlSeconds}}
        {{(group is null ? "" : $"group = \"{group}\"")}}
        """;

    /// <summary><c>ullmctl plan MODEL --json</c>, which must succeed.</summary>
    private static async Task<JsonDocument> PlanAsync(DaemonProcess daemon, string model)
    {
        var plan = await daemon.CtlAsync("plan", model, "--json");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        return JsonDocument.Parse(plan.StandardOutput);
    }

    /// <summary>POST /api/pull, streaming: its NDJSON lines.</summary>
    private static async Task<List<JsonNode>> PullAsync(HttpClient ollama, string model, CancellationToken ct)
    {
        using var content = new StringContent($$"""{"model":"{{model}}"}""");
        using var response = await ollama.PostAsync(new Uri("api/pull", UriKind.Relative), content, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!)];
    }
}

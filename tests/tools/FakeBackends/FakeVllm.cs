using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// `vllm serve`: validates its flags as vLLM's argument parser and config checks do, starts its "engine" (the engine
/// start delay) before it listens, as vLLM builds the engine before its HTTP server, then serves the one model.
/// </summary>
internal static class FakeVllm
{
    private static readonly string[] ValueFlags =
    [
        "--host", "--port", "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--tensor-parallel-size",
        "--served-model-name", "--kv-cache-dtype", "--task", "--pipeline-parallel-size", "--distributed-executor-backend",
    ];

    private static readonly string[] ExecutorBackends = ["ray", "mp", "uni", "external_launcher"];

    private static readonly string[] SwitchFlags = ["--enforce-eager"];

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 2 || args[0] != "serve")
        {
            await Console.Error.WriteLineAsync("usage: vllm serve MODEL [options]");
            return 2;
        }

        var model = args[1];
        var (flags, unknown) = Parse(args[2..]);
        if (unknown.Count > 0)
        {
            await Console.Error.WriteLineAsync($"vllm: error: unrecognized arguments: {string.Join(' ', unknown)}");
            return 2;
        }

        var servedName = flags.GetValueOrDefault("--served-model-name", model);
        var maxModelLen = long.Parse(flags.GetValueOrDefault("--max-model-len", "4096"), CultureInfo.InvariantCulture);
        var utilization = double.Parse(flags.GetValueOrDefault("--gpu-memory-utilization", "0.9"), CultureInfo.InvariantCulture);
        var tensorParallel = int.Parse(flags.GetValueOrDefault("--tensor-parallel-size", "1"), CultureInfo.InvariantCulture);
        var maxNumSeqs = int.Parse(flags.GetValueOrDefault("--max-num-seqs", "256"), CultureInfo.InvariantCulture);
        var task = flags.GetValueOrDefault("--task", "generate");
        var embeds = task == "embed";
        var scores = task == "score";
        var visible = Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")?.Split(',', StringSplitOptions.RemoveEmptyEntries).Length;
        Console.WriteLine($"INFO: non-default args: model='{model}', max_model_len={maxModelLen}, gpu_memory_utilization={utilization}, "
            + $"max_num_seqs={maxNumSeqs}, tensor_parallel_size={tensorParallel}, CUDA_VISIBLE_DEVICES={Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")}");
        var pipelineParallel = int.Parse(flags.GetValueOrDefault("--pipeline-parallel-size", "1"), CultureInfo.InvariantCulture);
        var executor = flags.GetValueOrDefault("--distributed-executor-backend");
        if (executor is not null && !ExecutorBackends.Contains(executor))
        {
            await Console.Error.WriteLineAsync($"vllm serve: error: argument --distributed-executor-backend: invalid choice: '{executor}' (choose from {string.Join(", ", ExecutorBackends.Select(e => $"'{e}'"))})");
            return 2;
        }

        // Across nodes the world is tensor × pipeline GPUs, found by Ray in the cluster RAY_ADDRESS names (which the fake
        // cannot reach, so it takes the cluster as big enough); without one, on this host's visible GPUs only.
        var rayCluster = executor == "ray" ? Environment.GetEnvironmentVariable("RAY_ADDRESS") : null;
        Console.WriteLine($"INFO: pipeline_parallel_size={pipelineParallel}, distributed_executor_backend={executor ?? "auto"}, RAY_ADDRESS={rayCluster}");
        var world = tensorParallel * pipelineParallel;
        if (await ConfigProblemAsync(model, maxModelLen, utilization, rayCluster is null ? world : tensorParallel, visible) is { } problem)
        {
            await Console.Error.WriteLineAsync(problem);
            return 1;
        }

        Console.WriteLine("INFO: Initializing the engine: loading weights, profiling memory, capturing CUDA graphs");
        await Task.Delay(FakeSettings.LoadDelay);
        await FakeSettings.WaitForGoAsync();
        var metrics = new Counters();
        var host = flags.GetValueOrDefault("--host", "0.0.0.0");
        var port = flags.GetValueOrDefault("--port", "8000");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{host}:{port}");
        await using var app = builder.Build();
        app.MapGet("/health", () => Results.Ok());
        app.MapGet("/metrics", () => Results.Text(metrics.Prometheus(servedName, utilization, flags.GetValueOrDefault("--kv-cache-dtype", "auto")), "text/plain; version=0.0.4"));
        foreach (var path in new[] { "/rerank", "/v1/rerank" })
        {
            app.MapPost(path, context => ServeAsync(context, servedName, !scores, "Rerank (Score)", metrics, request =>
                VllmRerank.WriteAsync(context, servedName, request)));
        }

        app.MapPost("/v1/chat/completions", context => ServeAsync(context, servedName, embeds || scores, "Chat Completions", metrics, request =>
            OpenAiChat.WriteAsync(context, servedName, OpenAiChat.Reply(request), request?["stream"]?.GetValue<bool>() == true, OpenAiChat.IncludeUsage(request))));
        app.MapPost("/v1/completions", context => ServeAsync(context, servedName, embeds || scores, "Completions", metrics, request =>
            OpenAiExtras.WriteCompletionAsync(context, servedName, request)));
        app.MapPost("/v1/embeddings", context => ServeAsync(context, servedName, !embeds, "Embeddings", metrics, request =>
            OpenAiExtras.WriteEmbeddingsAsync(context, servedName, request)));
        await app.StartAsync();
        Console.WriteLine($"INFO: Started server process on http://{host}:{port}");
        Console.WriteLine("INFO: Application startup complete.");
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static (Dictionary<string, string> Flags, List<string> Unknown) Parse(string[] args)
    {
        var flags = new Dictionary<string, string>();
        var unknown = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq > 0 ? arg[..eq] : arg;
            if (ValueFlags.Contains(name) && (eq > 0 || i + 1 < args.Length))
            {
                flags[name] = eq > 0 ? arg[(eq + 1)..] : args[++i];
            }
            else if (SwitchFlags.Contains(arg))
            {
                flags[arg] = "true";
            }
            else
            {
                unknown.Add(arg);
            }
        }

        return (flags, unknown);
    }

    /// <summary>vLLM's own checks before it loads anything: the utilization range, the GPUs for tensor parallelism, max_model_len against config.json.</summary>
    private static async Task<string?> ConfigProblemAsync(string model, long maxModelLen, double utilization, int required, int? visible)
    {
        if (utilization is <= 0 or > 1)
        {
            return $"ValueError: GPU memory utilization must be within (0, 1]. Got {utilization}.";
        }

        if (visible is { } gpus && required > gpus)
        {
            return $"ValueError: The number of required GPUs exceeds the total number of available GPUs in the placement group. ({required} required, {gpus} visible)";
        }

        var derived = FakeSettings.VllmMaxModelLen;
        var config = Path.Combine(model, "config.json");
        if (File.Exists(config))
        {
            using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(config));
            derived = document.RootElement.GetProperty("max_position_embeddings").GetInt64();
        }

        return maxModelLen > derived
            ? $"ValueError: User-specified max_model_len ({maxModelLen}) is greater than the derived max_model_len (max_position_embeddings={derived} or "
                + "model_max_length=None in model's config.json). This may lead to incorrect model outputs or CUDA errors. To allow overriding this maximum, "
                + "set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1"
            : null;
    }

    /// <summary>Checks the model name and the task, records the request and counts it, then lets <paramref name="write"/> answer.</summary>
    private static async Task ServeAsync(HttpContext context, string servedName, bool unsupported, string api, Counters metrics, Func<JsonNode?, Task> write)
    {
        var request = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        FakeRecord.Request(context.Request.Path, request);
        var asked = request?["model"]?.GetValue<string>();
        if (asked != servedName)
        {
            await ErrorAsync(context, 404, "NotFoundError", $"The model `{asked}` does not exist.");
            return;
        }

        if (unsupported)
        {
            await ErrorAsync(context, 400, "BadRequestError", $"The model does not support {api} API");
            return;
        }

        Interlocked.Increment(ref metrics.Requests);
        await write(request);
    }

    private static async Task ErrorAsync(HttpContext context, int status, string type, string message)
    {
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(new JsonObject { ["object"] = "error", ["message"] = message, ["type"] = type, ["param"] = null, ["code"] = status });
    }

    /// <summary>What /metrics reports, in vLLM's metric names.</summary>
    private sealed class Counters
    {
        public long Requests;

        public string Prometheus(string model, double utilization, string cacheDtype)
        {
            var label = $"model_name=\"{model}\"";
            return string.Create(CultureInfo.InvariantCulture, $$"""
                # HELP vllm:num_requests_running Number of requests in model execution batches.
                # TYPE vllm:num_requests_running gauge
                vllm:num_requests_running{{{label}}} 0.0
                # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
                # TYPE vllm:num_requests_waiting gauge
                vllm:num_requests_waiting{{{label}}} 0.0
                # HELP vllm:request_success_total Count of successfully processed requests.
                # TYPE vllm:request_success_total counter
                vllm:request_success_total{{{label}}} {{Interlocked.Read(ref Requests)}}.0
                # HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
                # TYPE vllm:cache_config_info gauge
                vllm:cache_config_info{block_size="16",cache_dtype="{{cacheDtype}}",gpu_memory_utilization="{{utilization}}"} 1.0

                """);
        }
    }
}

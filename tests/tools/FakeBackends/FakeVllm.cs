using System.Globalization;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>`vllm serve`: validates its flags, answers /health 503 while "loading", then serves the one model.</summary>
internal static class FakeVllm
{
    private static readonly string[] Flags =
        ["--host", "--port", "--gpu-memory-utilization", "--max-model-len", "--served-model-name", "--tensor-parallel-size"];

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 2 || args[0] != "serve")
        {
            await Console.Error.WriteLineAsync("usage: vllm serve MODEL [options]");
            return 2;
        }

        var model = args[1];
        var flags = new Dictionary<string, string>();
        var unknown = new List<string>();
        for (var i = 2; i < args.Length; i++)
        {
            if (Flags.Contains(args[i]) && i + 1 < args.Length)
            {
                flags[args[i]] = args[++i];
            }
            else
            {
                unknown.Add(args[i]);
            }
        }

        if (unknown.Count > 0)
        {
            await Console.Error.WriteLineAsync($"vllm: error: unrecognized arguments: {string.Join(' ', unknown)}");
            return 2;
        }

        var servedName = flags.GetValueOrDefault("--served-model-name", model);
        var maxModelLen = long.Parse(flags.GetValueOrDefault("--max-model-len", "4096"), CultureInfo.InvariantCulture);
        var derivedMax = FakeSettings.VllmMaxModelLen;
        Console.WriteLine($"INFO: non-default args: model='{model}', max_model_len={maxModelLen}, "
            + $"gpu_memory_utilization={flags.GetValueOrDefault("--gpu-memory-utilization", "0.9")}, "
            + $"tensor_parallel_size={flags.GetValueOrDefault("--tensor-parallel-size", "1")}, "
            + $"CUDA_VISIBLE_DEVICES={Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")}");
        if (maxModelLen > derivedMax)
        {
            await Console.Error.WriteLineAsync(
                $"ValueError: User-specified max_model_len ({maxModelLen}) is greater than the derived max_model_len "
                + $"(max_position_embeddings={derivedMax} or model_max_length=None in model's config.json). This may lead to "
                + "incorrect model outputs or CUDA errors. To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1");
            return 1;
        }

        var host = flags.GetValueOrDefault("--host", "0.0.0.0");
        var port = flags.GetValueOrDefault("--port", "8000");
        var ready = new TaskCompletionSource();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{host}:{port}");
        await using var app = builder.Build();
        app.MapGet("/health", () => ready.Task.IsCompleted ? Results.Ok() : Results.StatusCode(503));
        app.MapGet("/v1/models", () => ready.Task.IsCompleted
            ? Results.Json(new JsonObject
            {
                ["object"] = "list",
                ["data"] = new JsonArray(new JsonObject
                {
                    ["id"] = servedName,
                    ["object"] = "model",
                    ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                    ["owned_by"] = "vllm",
                    ["root"] = model,
                    ["parent"] = null,
                    ["max_model_len"] = maxModelLen,
                }),
            })
            : Results.StatusCode(503));
        app.MapPost("/v1/chat/completions", async context =>
        {
            if (!ready.Task.IsCompleted)
            {
                context.Response.StatusCode = 503;
                return;
            }

            var request = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            var asked = request?["model"]?.GetValue<string>();
            if (asked != servedName)
            {
                context.Response.StatusCode = 404;
                await context.Response.WriteAsJsonAsync(new JsonObject
                {
                    ["object"] = "error",
                    ["message"] = $"The model `{asked}` does not exist.",
                    ["type"] = "NotFoundError",
                    ["param"] = null,
                    ["code"] = 404,
                });
                return;
            }

            await OpenAiChat.WriteAsync(context, servedName, OpenAiChat.Reply(request), request?["stream"]?.GetValue<bool>() == true);
        });
        await app.StartAsync();
        Console.WriteLine($"INFO: Started server process on http://{host}:{port}; loading model weights");
        await Task.Delay(FakeSettings.LoadDelay);
        ready.SetResult();
        Console.WriteLine("INFO: Application startup complete.");
        await app.WaitForShutdownAsync();
        return 0;
    }
}

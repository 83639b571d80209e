using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>`ollama serve`: models load on first use (after the load delay) and stay for their keep_alive.</summary>
internal static class FakeOllama
{
    // Ollama reports "never expires" as a date far in the future.
    private static readonly DateTimeOffset Never = new(2318, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not ["serve"])
        {
            await Console.Error.WriteLineAsync($"Error: unknown command \"{string.Join(' ', args)}\" for \"ollama\"");
            return 1;
        }

        var host = Environment.GetEnvironmentVariable("OLLAMA_HOST") ?? "127.0.0.1:11434";
        var defaultKeepAlive = GoDuration.FromEnvironment(Environment.GetEnvironmentVariable("OLLAMA_KEEP_ALIVE") ?? "5m");
        var store = new OllamaStore(Environment.GetEnvironmentVariable("OLLAMA_MODELS") ?? Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/", ".ollama", "models"));
        var state = new LoadedModels(store, defaultKeepAlive);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{host}");
        await using var app = builder.Build();
        app.MapGet("/", () => Results.Text("Ollama is running"));
        app.MapGet("/api/ps", () => Results.Json(state.Running()));
        app.MapPost("/api/generate", context => LoadOrUnloadAsync(context, state));
        app.MapPost("/api/pull", context => PullAsync(context, store));
        app.MapPost("/v1/chat/completions", context => OpenAiAsync(context, state, (request, tag) =>
            OpenAiChat.WriteAsync(context, tag, OpenAiChat.Reply(request), request?["stream"]?.GetValue<bool>() == true, OpenAiChat.IncludeUsage(request))));
        app.MapPost("/v1/completions", context => OpenAiAsync(context, state, (request, tag) => OpenAiExtras.WriteCompletionAsync(context, tag, request)));
        app.MapPost("/v1/embeddings", context => OpenAiAsync(context, state, (request, tag) => OpenAiExtras.WriteEmbeddingsAsync(context, tag, request)));
        await app.StartAsync();
        Console.WriteLine($"Listening on {host} (version 0.0.0-fake)");
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>
    /// /api/generate as ullmd's Ollama driver sends it: an empty prompt loads the model (done_reason "load"), or with
    /// keep_alive 0 unloads it ("unload"). A prompt to answer is refused: nothing here generates through Ollama's own API.
    /// </summary>
    private static async Task LoadOrUnloadAsync(HttpContext context, LoadedModels state)
    {
        var request = await ReadAsync(context);
        FakeRecord.Request(context.Request.Path, request);
        var tag = request?["model"]?.GetValue<string>();
        if (string.IsNullOrEmpty(tag))
        {
            await ErrorAsync(context, 400, "model is required");
            return;
        }

        if (!state.Knows(tag))
        {
            await ModelNotFoundAsync(context, tag, openAi: false);
            return;
        }

        if (!string.IsNullOrEmpty(request!["prompt"]?.GetValue<string>()))
        {
            await ErrorAsync(context, 400, "the fake Ollama loads and unloads on /api/generate; it answers prompts on /v1 only");
            return;
        }

        TimeSpan? keepAlive;
        try
        {
            keepAlive = request["keep_alive"] is { } node ? GoDuration.FromJson(node) : state.DefaultKeepAlive;
        }
        catch (FormatException e)
        {
            await ErrorAsync(context, 400, e.Message);
            return;
        }

        var name = LoadedModels.Normalize(tag);
        if (keepAlive == TimeSpan.Zero)
        {
            state.Unload(name);
            await context.Response.WriteAsJsonAsync(Done(name, "unload"));
            return;
        }

        await state.LoadAsync(name, keepAlive, request["options"], context.RequestAborted);
        await context.Response.WriteAsJsonAsync(Done(name, "load"));
    }

    /// <summary>
    /// Copies a model from FAKE_OLLAMA_REGISTRY (a directory laid out like OLLAMA_MODELS, standing in for the registry)
    /// into OLLAMA_MODELS, reporting progress as Ollama does: NDJSON status lines, a "pulling" line per chunk of each
    /// blob with digest, total and completed, then "verifying sha256 digest", "writing manifest", "success"; with
    /// stream false, only the last. A model the registry does not have ends with {"error":...} (500 when not streaming).
    /// </summary>
    private static async Task PullAsync(HttpContext context, OllamaStore store)
    {
        var request = await ReadAsync(context);
        FakeRecord.Request(context.Request.Path, request);
        var tag = request?["model"]?.GetValue<string>() ?? request?["name"]?.GetValue<string>();
        if (string.IsNullOrEmpty(tag))
        {
            await ErrorAsync(context, 400, "model is required");
            return;
        }

        var stream = request?["stream"]?.GetValue<bool>() != false;
        var registry = new OllamaStore(Environment.GetEnvironmentVariable("FAKE_OLLAMA_REGISTRY") ?? "/nonexistent");
        var source = registry.Find(tag);
        if (!stream && source is null)
        {
            await ErrorAsync(context, 500, "pull model manifest: file does not exist");
            return;
        }

        context.Response.ContentType = "application/x-ndjson";
        async Task Say(JsonObject line)
        {
            if (stream)
            {
                await context.Response.WriteAsync(line.ToJsonString() + "\n");
                await context.Response.Body.FlushAsync();
            }
        }

        await Say(new JsonObject { ["status"] = "pulling manifest" });
        if (source is null)
        {
            await context.Response.WriteAsync(new JsonObject { ["error"] = "pull model manifest: file does not exist" }.ToJsonString() + "\n");
            return;
        }

        foreach (var blob in registry.Blobs(source))
        {
            var target = Path.Combine(store.Directory, "blobs", Path.GetFileName(blob));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var bytes = await File.ReadAllBytesAsync(blob, context.RequestAborted);
            var digest = Path.GetFileName(blob).Replace('-', ':');
            const int Chunk = 64 * 1024;
            for (var done = 0; done < bytes.Length || done == 0; done += Chunk)
            {
                var completed = Math.Min(bytes.Length, done + Chunk);
                await Say(new JsonObject { ["status"] = $"pulling {digest[7..19]}", ["digest"] = digest, ["total"] = bytes.Length, ["completed"] = completed });
                if (completed == bytes.Length)
                {
                    break;
                }
            }

            await File.WriteAllBytesAsync(target, bytes, context.RequestAborted);
        }

        await Say(new JsonObject { ["status"] = "verifying sha256 digest" });
        await Say(new JsonObject { ["status"] = "writing manifest" });
        var manifest = Path.Combine(store.Directory, Path.GetRelativePath(registry.Directory, source.Manifest));
        Directory.CreateDirectory(Path.GetDirectoryName(manifest)!);
        File.Copy(source.Manifest, manifest, overwrite: true);
        var success = new JsonObject { ["status"] = "success" };
        if (stream)
        {
            await Say(success);
        }
        else
        {
            await context.Response.WriteAsJsonAsync(success);
        }
    }

    private static async Task OpenAiAsync(HttpContext context, LoadedModels state, Func<JsonNode?, string, Task> write)
    {
        var request = await ReadAsync(context);
        FakeRecord.Request(context.Request.Path, request);
        var tag = request?["model"]?.GetValue<string>() ?? string.Empty;
        if (!state.Knows(tag))
        {
            await ModelNotFoundAsync(context, tag, openAi: true);
            return;
        }

        await state.LoadAsync(LoadedModels.Normalize(tag), state.DefaultKeepAlive, null, context.RequestAborted);
        await write(request, tag);
    }

    private static JsonObject Done(string name, string reason) =>
        new() { ["model"] = name, ["created_at"] = Now(), ["response"] = string.Empty, ["done"] = true, ["done_reason"] = reason };

    private static async Task<JsonNode?> ReadAsync(HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async Task ErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(new JsonObject { ["error"] = message });
    }

    /// <summary>
    /// Ollama's 404 for a model it has not pulled, with one message: its own <c>{"error": "..."}</c>, or on its
    /// OpenAI-compatible paths OpenAI's error object.
    /// </summary>
    private static async Task ModelNotFoundAsync(HttpContext context, string tag, bool openAi)
    {
        var message = $"model \"{tag}\" not found, try pulling it first";
        context.Response.StatusCode = 404;
        await context.Response.WriteAsJsonAsync(openAi
            ? new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = "api_error", ["param"] = null, ["code"] = null } }
            : new JsonObject { ["error"] = message });
    }

    private static string Now() => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);

    private static JsonObject Details() => new() { ["format"] = "gguf", ["family"] = "llama", ["parameter_size"] = "1M", ["quantization_level"] = "F16" };

    /// <summary>Pulled and loaded models; a load of a model that is not loaded takes the configured delay.</summary>
    private sealed class LoadedModels(OllamaStore store, TimeSpan? defaultKeepAlive)
    {
        private readonly Lock gate = new();
        private readonly Dictionary<string, Loaded> loaded = [];

        public TimeSpan? DefaultKeepAlive => defaultKeepAlive;

        public static string Normalize(string tag) => tag[(tag.LastIndexOf('/') + 1)..].Contains(':', StringComparison.Ordinal) ? tag : tag + ":latest";

        public bool Knows(string tag) => store.Find(tag) is not null;

        public async Task LoadAsync(string name, TimeSpan? keepAlive, JsonNode? options, CancellationToken cancellationToken)
        {
            bool present;
            lock (gate)
            {
                present = loaded.ContainsKey(name) && !Expired(loaded[name]);
            }

            if (!present)
            {
                await Task.Delay(FakeSettings.LoadDelay, cancellationToken);
            }

            var expires = keepAlive is { } ttl ? DateTimeOffset.UtcNow + ttl : Never;
            lock (gate)
            {
                var previous = loaded.GetValueOrDefault(name);
                loaded[name] = new Loaded(
                    expires,
                    options?["num_ctx"]?.GetValue<long>() ?? previous?.NumCtx ?? 4096,
                    options?["num_gpu"]?.GetValue<int>() ?? previous?.NumGpu ?? -1);
            }
        }

        public void Unload(string name)
        {
            lock (gate)
            {
                loaded.Remove(name);
            }
        }

        public JsonObject Running()
        {
            lock (gate)
            {
                foreach (var name in loaded.Where(m => Expired(m.Value)).Select(m => m.Key).ToList())
                {
                    loaded.Remove(name);
                }

                return new JsonObject
                {
                    ["models"] = new JsonArray([.. loaded.Select(m =>
                    {
                        var entry = Describe(store.Find(m.Key)!);
                        entry["expires_at"] = m.Value.ExpiresAt.ToString("O", CultureInfo.InvariantCulture);
                        entry["size_vram"] = m.Value.NumGpu == 0 ? 0 : entry["size"]!.GetValue<long>();
                        entry["context_length"] = m.Value.NumCtx;
                        return (JsonNode)entry;
                    })]),
                };
            }
        }

        private static bool Expired(Loaded model) => model.ExpiresAt <= DateTimeOffset.UtcNow;

        private static JsonObject Describe(OllamaStore.Pulled model) => new()
        {
            ["name"] = model.Name,
            ["model"] = model.Name,
            ["modified_at"] = model.Modified.ToString("O", CultureInfo.InvariantCulture),
            ["size"] = model.Size,
            ["digest"] = model.Digest,
            ["details"] = Details(),
        };

        private sealed record Loaded(DateTimeOffset ExpiresAt, long NumCtx, int NumGpu);
    }
}

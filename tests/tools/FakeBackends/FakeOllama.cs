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
        var state = new LoadedModels(FakeSettings.OllamaModels, defaultKeepAlive);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{host}");
        await using var app = builder.Build();
        app.MapGet("/", () => Results.Text("Ollama is running"));
        app.MapGet("/api/tags", () => Results.Json(state.Tags()));
        app.MapGet("/api/ps", () => Results.Json(state.Running()));
        app.MapPost("/api/generate", context => NativeAsync(context, state, "prompt"));
        app.MapPost("/api/chat", context => NativeAsync(context, state, "messages"));
        app.MapPost("/v1/chat/completions", context => OpenAiAsync(context, state));
        app.MapPost("/api/pull", PullAsync);
        await app.StartAsync();
        Console.WriteLine($"Listening on {host} (version 0.0.0-fake)");
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static async Task NativeAsync(HttpContext context, LoadedModels state, string inputField)
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
            await ErrorAsync(context, 404, $"model \"{tag}\" not found, try pulling it first");
            return;
        }

        TimeSpan? keepAlive;
        try
        {
            keepAlive = request!["keep_alive"] is { } node ? GoDuration.FromJson(node) : state.DefaultKeepAlive;
        }
        catch (FormatException e)
        {
            await ErrorAsync(context, 400, e.Message);
            return;
        }

        var input = request["prompt"]?.GetValue<string>() ?? string.Empty;
        var isEmpty = inputField == "prompt" ? input.Length == 0 : (request["messages"] as JsonArray ?? []).Count == 0;
        var name = LoadedModels.Normalize(tag);
        if (keepAlive == TimeSpan.Zero && isEmpty)
        {
            state.Unload(name);
            await context.Response.WriteAsJsonAsync(Done(name, inputField, "unload"));
            return;
        }

        await state.LoadAsync(name, keepAlive, request["options"], context.RequestAborted);
        if (isEmpty)
        {
            await context.Response.WriteAsJsonAsync(Done(name, inputField, "load"));
            return;
        }

        var reply = inputField == "prompt" ? $"fake reply to: {input}" : OpenAiChat.Reply(request);
        if (request["stream"]?.GetValue<bool>() == false)
        {
            var whole = Done(name, inputField, "stop");
            Put(whole, inputField, reply);
            await context.Response.WriteAsJsonAsync(whole);
            return;
        }

        context.Response.ContentType = "application/x-ndjson";
        foreach (var piece in reply.Split(' ').Select((word, i) => i == 0 ? word : " " + word))
        {
            var part = new JsonObject { ["model"] = name, ["created_at"] = Now(), ["done"] = false };
            Put(part, inputField, piece);
            await context.Response.WriteAsync(part.ToJsonString() + "\n");
            await context.Response.Body.FlushAsync();
        }

        await context.Response.WriteAsync(Done(name, inputField, "stop").ToJsonString() + "\n");
    }

    /// <summary>
    /// <c>POST /api/pull</c> from the fake registry (FAKE_OLLAMA_REGISTRY, comma-separated tags): NDJSON progress as Ollama
    /// streams it (the manifest, each layer's digest with total and completed bytes, verification, success), then the tag
    /// is known to /api/tags and loads. A tag the registry lacks ends the stream with Ollama's error line.
    /// </summary>
    private static async Task PullAsync(HttpContext context)
    {
        var request = await ReadAsync(context);
        FakeRecord.Request(context.Request.Path, request);
        var tag = request?["model"]?.GetValue<string>() ?? request?["name"]?.GetValue<string>();
        if (string.IsNullOrEmpty(tag))
        {
            await ErrorAsync(context, 400, "model is required");
            return;
        }

        var registry = (Environment.GetEnvironmentVariable("FAKE_OLLAMA_REGISTRY") ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var found = registry.Any(r => LoadedModels.Normalize(r) == LoadedModels.Normalize(tag));
        var lines = new List<JsonObject> { new() { ["status"] = "pulling manifest" } };
        if (found)
        {
            foreach (var (layer, size) in new[] { ("model", 3L << 20), ("template", 1_024L), ("params", 96L) })
            {
                var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(tag + layer)));
                for (var completed = 0L; ; completed = Math.Min(size, completed + (1L << 20)))
                {
                    lines.Add(new JsonObject { ["status"] = $"pulling {digest[..12]}", ["digest"] = $"sha256:{digest}", ["total"] = size, ["completed"] = completed });
                    if (completed == size)
                    {
                        break;
                    }
                }
            }

            lines.AddRange([new() { ["status"] = "verifying sha256 digest" }, new() { ["status"] = "writing manifest" }, new() { ["status"] = "success" }]);
        }

        if (request?["stream"]?.GetValue<bool>() == false)
        {
            if (!found)
            {
                await ErrorAsync(context, 500, "pull model manifest: file does not exist");
                return;
            }

            LoadedModels.Pulled(tag);
            await context.Response.WriteAsJsonAsync(lines[^1]);
            return;
        }

        context.Response.ContentType = "application/x-ndjson";
        foreach (var line in lines)
        {
            await context.Response.WriteAsync(line.ToJsonString() + "\n");
            await context.Response.Body.FlushAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(20), context.RequestAborted);
        }

        if (found)
        {
            LoadedModels.Pulled(tag);
        }
        else
        {
            await context.Response.WriteAsync(new JsonObject { ["error"] = "pull model manifest: file does not exist" }.ToJsonString() + "\n");
        }
    }

    private static async Task OpenAiAsync(HttpContext context, LoadedModels state)
    {
        var request = await ReadAsync(context);
        var tag = request?["model"]?.GetValue<string>() ?? string.Empty;
        if (!state.Knows(tag))
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["error"] = new JsonObject
                {
                    ["message"] = $"model \"{tag}\" not found, try pulling it first",
                    ["type"] = "api_error",
                    ["param"] = null,
                    ["code"] = null,
                },
            });
            return;
        }

        await state.LoadAsync(LoadedModels.Normalize(tag), state.DefaultKeepAlive, null, context.RequestAborted);
        await OpenAiChat.WriteAsync(context, tag, OpenAiChat.Reply(request), request?["stream"]?.GetValue<bool>() == true);
    }

    private static void Put(JsonObject response, string inputField, string text)
    {
        if (inputField == "prompt")
        {
            response["response"] = text;
        }
        else
        {
            response["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text };
        }
    }

    private static JsonObject Done(string name, string inputField, string reason)
    {
        var response = new JsonObject { ["model"] = name, ["created_at"] = Now(), ["done"] = true, ["done_reason"] = reason };
        Put(response, inputField, string.Empty);
        return response;
    }

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

    private static string Now() => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);

    /// <summary>Known and loaded models; a load of a model that is not loaded takes the configured delay.</summary>
    private sealed class LoadedModels(IReadOnlyList<string> known, TimeSpan? defaultKeepAlive)
    {
        private readonly Lock gate = new();
        private readonly Dictionary<string, Loaded> loaded = [];

        public TimeSpan? DefaultKeepAlive => defaultKeepAlive;

        public static string Normalize(string tag) => tag[(tag.LastIndexOf('/') + 1)..].Contains(':', StringComparison.Ordinal) ? tag : tag + ":latest";

        public bool Knows(string tag) => known.Any(k => Normalize(k) == Normalize(tag)) || File.Exists(ManifestPath(tag));

        /// <summary>Kept where Ollama keeps it (a manifest under OLLAMA_MODELS), so a server started later knows the tag too.</summary>
        public static void Pulled(string tag)
        {
            var path = ManifestPath(tag);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json" }.ToJsonString());
        }

        private static string ManifestPath(string tag)
        {
            var name = Normalize(tag);
            var colon = name.LastIndexOf(':');
            var repository = name[..colon].Contains('/', StringComparison.Ordinal) ? name[..colon] : "library/" + name[..colon];
            return Path.Combine(ManifestsRoot(), repository, name[(colon + 1)..]);
        }

        private static string ManifestsRoot()
        {
            var models = Environment.GetEnvironmentVariable("OLLAMA_MODELS") is { Length: > 0 } dir
                ? dir
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ollama", "models");
            return Path.Combine(models, "manifests", "registry.ollama.ai");
        }

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

        public JsonObject Tags() => new()
        {
            ["models"] = new JsonArray([.. Known().Select(k => (JsonNode)Describe(Normalize(k)))]),
        };

        private List<string> Known()
        {
            var manifests = ManifestsRoot();
            var pulled = Directory.Exists(manifests)
                ? Directory.EnumerateFiles(manifests, "*", SearchOption.AllDirectories)
                    .Select(f => Path.GetRelativePath(manifests, f).Split('/') is var p && p[0] == "library" ? $"{p[1]}:{p[2]}" : $"{string.Join('/', p[..^1])}:{p[^1]}")
                : [];
            return [.. known.Concat(pulled).Select(Normalize).Distinct()];
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
                        var entry = Describe(m.Key);
                        entry["expires_at"] = m.Value.ExpiresAt.ToString("O", CultureInfo.InvariantCulture);
                        entry["size_vram"] = m.Value.NumGpu == 0 ? 0 : 1_000_000;
                        entry["context_length"] = m.Value.NumCtx;
                        return (JsonNode)entry;
                    })]),
                };
            }
        }

        private static bool Expired(Loaded model) => model.ExpiresAt <= DateTimeOffset.UtcNow;

        private static JsonObject Describe(string name) => new()
        {
            ["name"] = name,
            ["model"] = name,
            ["size"] = 1_000_000,
            ["digest"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name))),
            ["details"] = new JsonObject { ["format"] = "gguf", ["family"] = "llama", ["parameter_size"] = "1M", ["quantization_level"] = "F16" },
        };

        private sealed record Loaded(DateTimeOffset ExpiresAt, long NumCtx, int NumGpu);
    }
}

using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Serialization;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Ollama models live in ONE shared <c>ollama serve</c> per ullmd, started through the supervisor with the first model
/// and stopped with the last. A model is loaded by an empty <c>POST /api/generate</c> that pins its placement
/// (<c>options.num_gpu</c>: the plan's layers; <c>num_ctx</c>: the plan's context over the server's slots, since Ollama
/// gives each of its OLLAMA_NUM_PARALLEL slots num_ctx tokens), checked in <c>GET /api/ps</c> (whose <c>size_vram</c>
/// then counts as the model's GPU memory), and unloaded with <c>keep_alive: 0</c>. The server's
/// OLLAMA_NUM_PARALLEL is the slot count the plans were sized with, and OLLAMA_MAX_LOADED_MODELS lets every model ullmd
/// may load stay loaded, so Ollama neither serves more at once nor unloads on its own.
/// </summary>
internal sealed class OllamaDriver : IBackendDriver, IAsyncDisposable
{
    public const string ServerModelName = "ollama";

    // ullmd's scheduler owns idle unloads (TTL); a load that never expires keeps Ollama from unloading behind its back.
    // A negative JSON number means forever; the string "-1" is rejected by Ollama as a duration without a unit.
    private const int KeepForever = -1;

    private readonly IBackendSupervisor supervisor;
    private readonly OllamaDriverOptions options;
    private readonly HttpClient http;
    private readonly BackendReadiness readiness;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly HashSet<string> loaded = new(StringComparer.Ordinal);
    private SharedServer? server;
    private int pulls;

    public OllamaDriver(IBackendSupervisor supervisor, OllamaDriverOptions options, HttpClient http, TimeProvider time)
    {
        this.supervisor = supervisor;
        this.options = options;
        this.http = http;
        readiness = new BackendReadiness(supervisor, http, time);
    }

    public BackendKind Kind => BackendKind.Ollama;

    /// <summary>Requests one model serves at once: OLLAMA_NUM_PARALLEL from the backend's environment, else Ollama's default of 1.</summary>
    public static int Slots(BackendConfig backend) =>
        backend.Environment.TryGetValue("OLLAMA_NUM_PARALLEL", out var text) && int.TryParse(text, System.Globalization.NumberStyles.Integer, CultureInfo.InvariantCulture, out var slots) && slots > 0
            ? slots
            : 1;

    public async Task<RunningBackend> StartAsync(BackendStart start, CancellationToken cancellationToken)
    {
        var tag = start.Model.Source;
        await gate.WaitAsync(cancellationToken);
        try
        {
            var shared = await EnsureServerAsync(start.Backend, cancellationToken);
            try
            {
                start.Loading?.Invoke($"ollama serve (pid {shared.Process.MainPid}) is loading {tag}");
                var sizeVram = await LoadAsync(shared, start, cancellationToken);
                loaded.Add(start.Model.Name);
                return new RunningBackend(start.Model.Name, shared.BaseAddress, tag, shared.Process, Slots(start.Backend)) { ReportedGpuBytes = sizeVram };
            }
            catch when (loaded.Count == 0 && pulls == 0)
            {
                await StopServerAsync(shared, CancellationToken.None);
                throw;
            }
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task StopAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            var shared = server;
            if (shared is null || shared.Process.InvocationId != backend.Process.InvocationId || !loaded.Remove(backend.Model))
            {
                return;
            }

            if (!shared.Process.Exited.IsCompleted)
            {
                await UnloadAsync(shared, backend, cancellationToken);
            }

            if (loaded.Count == 0 && pulls == 0)
            {
                await StopServerAsync(shared, cancellationToken);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Pulls <paramref name="tag"/> through the shared server's <c>POST /api/pull</c> and relays each line of its NDJSON
    /// progress. The server is started for the pull when no model runs, and stopped after it unless a model loaded meanwhile.
    /// An <c>{"error": …}</c> line or an error status ends the pull with <see cref="OllamaPullException"/>.
    /// </summary>
    public async IAsyncEnumerable<OllamaPullStatus> PullAsync(BackendConfig backend, string tag, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        SharedServer shared;
        await gate.WaitAsync(cancellationToken);
        try
        {
            shared = await EnsureServerAsync(backend, cancellationToken);
            pulls++;
        }
        finally
        {
            gate.Release();
        }

        try
        {
            var body = new JsonObject { ["model"] = tag, ["stream"] = true };
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(shared.BaseAddress, "api/pull")) { Content = JsonContent.Create(body, NodeJsonContext.Default.JsonObject) };
            using var response = await SendPullAsync(request, tag, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new OllamaPullException($"Ollama refused to pull \"{tag}\" ({(int)response.StatusCode}): {await ReadErrorAsync(response, cancellationToken)}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            var succeeded = false;
            while (await ReadPullLineAsync(reader, tag, cancellationToken) is { } line)
            {
                if (OllamaPullStatus.Parse(line, tag) is { } status)
                {
                    succeeded = status.Status == OllamaPullStatus.Success;
                    yield return status;
                }
            }

            if (!succeeded)
            {
                throw new OllamaPullException($"Ollama ended the pull of \"{tag}\" without \"{OllamaPullStatus.Success}\"");
            }
        }
        finally
        {
            await gate.WaitAsync(CancellationToken.None);
            try
            {
                pulls--;
                if (loaded.Count == 0 && pulls == 0 && ReferenceEquals(server, shared))
                {
                    await StopServerAsync(shared, CancellationToken.None);
                }
            }
            finally
            {
                gate.Release();
            }
        }
    }

    private async Task<HttpResponseMessage> SendPullAsync(HttpRequestMessage request, string tag, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new OllamaPullException($"Ollama failed while pulling \"{tag}\": {e.Message}", e);
        }
    }

    private static async Task<string?> ReadPullLineAsync(StreamReader reader, string tag, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadLineAsync(cancellationToken);
        }
        catch (IOException e)
        {
            throw new OllamaPullException($"Ollama broke off the pull of \"{tag}\": {e.Message}", e);
        }
    }

    /// <summary>
    /// Takes over one model in the shared <c>ollama serve</c> a previous ullmd left running (its record names the
    /// server's port and invocation), once <c>/api/ps</c> there lists the model: the first model adopted makes that
    /// process this driver's shared server, and the server stops with the last model as if this driver had started it.
    /// Null when the model is no longer loaded there, or when another server is already this driver's.
    /// </summary>
    public async Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, ModelConfig model, BackendConfig settings, CancellationToken cancellationToken)
    {
        if (record.Port is not { } port || process.Exited.IsCompleted)
        {
            return null;
        }

        await gate.WaitAsync(cancellationToken);
        try
        {
            if (server is { } running && running.Process.InvocationId != process.InvocationId)
            {
                return null;
            }

            var shared = server ?? new SharedServer(process, new Uri($"http://127.0.0.1:{port}/"));
            if (await FindLoadedAsync(shared.BaseAddress, model.Source, cancellationToken) is not { } entry)
            {
                return null;
            }

            server = shared;
            loaded.Add(model.Name);
            return new RunningBackend(model.Name, shared.BaseAddress, model.Source, shared.Process, Slots(settings)) { ReportedGpuBytes = SizeVram(entry) };
        }
        catch (HttpRequestException)
        {
            return null;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<bool> CheckHealthAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        if (backend.Process.Exited.IsCompleted)
        {
            return false;
        }

        try
        {
            using var root = await http.GetAsync(backend.BaseAddress, cancellationToken);
            return root.IsSuccessStatusCode && await FindLoadedAsync(backend.BaseAddress, backend.UpstreamModel, cancellationToken) is not null;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var shared = server;
        if (shared is not null && !shared.Process.Exited.IsCompleted)
        {
            await supervisor.StopAsync(shared.Process.UnitName, CancellationToken.None);
        }

        gate.Dispose();
    }

    private async Task<SharedServer> EnsureServerAsync(BackendConfig backend, CancellationToken cancellationToken)
    {
        if (server is { } running && !running.Process.Exited.IsCompleted)
        {
            return running;
        }

        server = null;
        loaded.Clear();
        var port = LoopbackPort.Allocate();
        var environment = new Dictionary<string, string>(backend.Environment)
        {
            ["OLLAMA_HOST"] = $"127.0.0.1:{port}",
            ["OLLAMA_MODELS"] = options.ModelsDirectory,
            ["OLLAMA_KEEP_ALIVE"] = KeepForever.ToString(CultureInfo.InvariantCulture),
            ["OLLAMA_MAX_LOADED_MODELS"] = (backend.MaxLoaded > 0 ? backend.MaxLoaded : Math.Max(1, options.ConfiguredModels())).ToString(CultureInfo.InvariantCulture),
            ["OLLAMA_NUM_PARALLEL"] = Slots(backend).ToString(CultureInfo.InvariantCulture),
        };
        var launch = new BackendLaunch
        {
            UnitName = UnitName.ForModel(ServerModelName, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))),
            Model = ServerModelName,
            ExecPath = backend.Executable,
            Arguments = ["serve", .. backend.ExtraArgs],
            Environment = environment,
            GpuIndices = options.ServerGpuIndices(),
            ReadWritePaths = [options.ModelsDirectory],
            StopTimeout = options.StopTimeout,
        };
        var process = await supervisor.StartAsync(launch, cancellationToken);
        var shared = new SharedServer(process, new Uri($"http://127.0.0.1:{port}/"));
        try
        {
            await readiness.WaitAsync(process, shared.BaseAddress, options.ServerStartTimeout, cancellationToken);
        }
        catch
        {
            await StopServerAsync(shared, CancellationToken.None);
            throw;
        }

        server = shared;
        return shared;
    }

    /// <summary>Loads the model with the plan's placement; its <c>size_vram</c> from /api/ps once loaded.</summary>
    private async Task<ulong?> LoadAsync(SharedServer shared, BackendStart start, CancellationToken cancellationToken)
    {
        var tag = start.Model.Source;
        var placement = OllamaOptions.For(start.Plan);
        var body = new JsonObject
        {
            ["model"] = tag,
            ["prompt"] = string.Empty,
            ["stream"] = false,
            ["keep_alive"] = KeepForever,
            ["options"] = new JsonObject { ["num_gpu"] = placement.NumGpu, ["num_ctx"] = placement.NumCtx },
        };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.LoadTimeout);
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsJsonAsync(new Uri(shared.BaseAddress, "api/generate"), body, NodeJsonContext.Default.JsonObject, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BackendStartException($"{start.Model.Name}: Ollama did not load \"{tag}\" within {options.LoadTimeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            throw new BackendStartException(
                $"{start.Model.Name}: Ollama failed while loading \"{tag}\": {e.Message}{await readiness.LogTailAsync(shared.Process.UnitName, cancellationToken)}", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var error = await ReadErrorAsync(response, cancellationToken);
                throw new BackendStartException($"{start.Model.Name}: Ollama refused to load \"{tag}\" ({(int)response.StatusCode}): {error}");
            }
        }

        if (await FindLoadedAsync(shared.BaseAddress, tag, cancellationToken) is not { } entry)
        {
            throw new BackendStartException($"{start.Model.Name}: Ollama answered the load of \"{tag}\" but /api/ps does not list it");
        }

        return SizeVram(entry);
    }

    private static ulong? SizeVram(JsonObject entry) =>
        entry["size_vram"] is JsonValue size && size.TryGetValue<ulong>(out var bytes) ? bytes : null;

    private async Task UnloadAsync(SharedServer shared, RunningBackend backend, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["model"] = backend.UpstreamModel, ["prompt"] = string.Empty, ["stream"] = false, ["keep_alive"] = 0 };
        using var response = await http.PostAsJsonAsync(new Uri(shared.BaseAddress, "api/generate"), body, NodeJsonContext.Default.JsonObject, cancellationToken);
        if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotFound)
        {
            var error = await ReadErrorAsync(response, cancellationToken);
            throw new InvalidOperationException($"{backend.Model}: Ollama refused to unload \"{backend.UpstreamModel}\" ({(int)response.StatusCode}): {error}");
        }
    }

    /// <summary>The model's entry in GET /api/ps, or null when Ollama does not list it as loaded.</summary>
    private async Task<JsonObject?> FindLoadedAsync(Uri baseAddress, string tag, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri(baseAddress, "api/ps"), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        var ps = await response.Content.ReadFromJsonAsync(NodeJsonContext.Default.JsonObject, cancellationToken);
        var models = ps?["models"] as JsonArray ?? [];
        return models.OfType<JsonObject>().FirstOrDefault(m => OllamaTag.Same((string?)m["name"], tag) || OllamaTag.Same((string?)m["model"], tag));
    }

    private async Task StopServerAsync(SharedServer shared, CancellationToken cancellationToken)
    {
        if (ReferenceEquals(server, shared))
        {
            server = null;
        }

        if (!shared.Process.Exited.IsCompleted)
        {
            await supervisor.StopAsync(shared.Process.UnitName, cancellationToken);
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            return JsonNode.Parse(text)?["error"]?.GetValue<string>() ?? text;
        }
        catch (JsonException)
        {
            return text;
        }
    }

    private sealed record SharedServer(BackendProcess Process, Uri BaseAddress);
}

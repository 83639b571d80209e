using System.ComponentModel;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ModelContextProtocol;
using ModelContextProtocol.Server;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Commands;
using UnifiedLlm.Ctl.Output;
using AdminClient = UnifiedLlm.Admin.V1.Admin.AdminClient;

namespace UnifiedLlm.Ctl.Mcp;

/// <summary>
/// The admin API as MCP tools. Each answers with a short summary (an IDE's context is precious) unless <c>full</c> asks
/// for the admin API's JSON. Daemon errors become tool errors carrying ullmd's own message.
/// </summary>
internal sealed class AdminTools(AdminClient admin, GatewayChat chat)
{
    private const int TableWidth = 120;
    private const string FullDescription = "Return the admin API's full JSON instead of a summary";

    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    [McpServerTool(Name = "list_models", ReadOnly = true)]
    [Description("Configured models with backend, profile (architecture, quantization, context) and state")]
    public Task<string> ListModelsAsync(
        [Description("Only models with a live instance")] bool loadedOnly = false,
        [Description("Only this backend: llamacpp, ollama or vllm")] string? backend = null,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default) =>
        CallAsync(
            () => admin.ListModelsAsync(new ListModelsRequest { LoadedOnly = loadedOnly, Backend = backend ?? "" }, cancellationToken: cancellationToken).ResponseAsync,
            full,
            r => r.Models.Count == 0 ? (loadedOnly ? "no models loaded" : "no models configured") : string.Join('\n', r.Models.Select(ModelLine)));

    [McpServerTool(Name = "get_model_info", ReadOnly = true)]
    [Description("One model: config, GGUF profile (layers, heads, context, size) and live state")]
    public Task<string> GetModelInfoAsync(
        [Description("Model name or alias")] string name,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default) =>
        CallAsync(() => admin.GetModelAsync(new GetModelRequest { Name = name }, cancellationToken: cancellationToken).ResponseAsync, full, ModelDetails);

    [McpServerTool(Name = "load_model", Destructive = false)]
    [Description("Load a model and wait until it is ready (or failed); reports each phase with its elapsed time")]
    public async Task<string> LoadModelAsync(
        [Description("Model name or alias")] string name,
        [Description("Context length in tokens; 0 = configured")] uint context = 0,
        [Description("GPU layers: 'auto' or a number; empty = configured")] string? gpuLayers = null,
        [Description("Preferred GPU index")] uint? gpu = null,
        [Description("Requests served at once, each with the full context; 0 = configured")] uint parallel = 0,
        [Description("KV cache type for K and V (f16, q8_0, q4_0, ...); empty = configured")] string? cacheType = null,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default)
    {
        var request = new LoadModelRequest { Name = name, Context = context, GpuLayers = gpuLayers ?? "", Parallel = parallel, CacheType = cacheType ?? "" };
        if (gpu is { } index)
        {
            request.Gpu = index;
        }

        return await FollowAsync(() => admin.LoadModel(request, cancellationToken: cancellationToken), full, cancellationToken);
    }

    [McpServerTool(Name = "unload_model", Destructive = true)]
    [Description("Stop a model's backend after its in-flight requests finish")]
    public Task<string> UnloadModelAsync(
        [Description("Model name or alias")] string name,
        [Description("Unload even if pinned or busy (in-flight requests get an error)")] bool force = false,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default) =>
        CallAsync(
            () => admin.UnloadModelAsync(new UnloadModelRequest { Name = name, Force = force }, cancellationToken: cancellationToken).ResponseAsync,
            full,
            r => $"unloaded {r.Model} ({r.Unit}) in {Printer.Duration(r.ElapsedMs)}, {r.DrainedRequests} request(s) drained");

    [McpServerTool(Name = "switch_model", Destructive = true)]
    [Description("Unload one model and load another in its place, waiting until the new one is ready")]
    public Task<string> SwitchModelAsync(
        [Description("The loaded model to unload")] string from,
        [Description("The model to load instead")] string to,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default) =>
        FollowAsync(() => admin.SwitchModel(new SwitchModelRequest { From = from, To = to }, cancellationToken: cancellationToken), full, cancellationToken);

    [McpServerTool(Name = "get_vram_status", ReadOnly = true)]
    [Description("Per GPU: name, memory used/free/total, utilisation, temperature, our units and foreign processes; or why ullmd runs in CPU mode")]
    public Task<string> GetVramStatusAsync([Description(FullDescription)] bool full = false, CancellationToken cancellationToken = default) =>
        CallAsync(() => admin.ListGpusAsync(new ListGpusRequest(), cancellationToken: cancellationToken).ResponseAsync, full, r => GpusCommand.Render(r, TableWidth));

    [McpServerTool(Name = "get_system_status", ReadOnly = true)]
    [Description("ullmd version, uptime, model and provider counts, GPUs, queue and loaded instances")]
    public Task<string> GetSystemStatusAsync([Description(FullDescription)] bool full = false, CancellationToken cancellationToken = default) =>
        CallAsync(() => admin.StatusAsync(new StatusRequest(), cancellationToken: cancellationToken).ResponseAsync, full, StatusSummary);

    [McpServerTool(Name = "get_provider_health", ReadOnly = true)]
    [Description("Cloud providers with key presence, breaker state, TTFT and failure counts")]
    public Task<string> GetProviderHealthAsync([Description(FullDescription)] bool full = false, CancellationToken cancellationToken = default) =>
        CallAsync(
            () => admin.ListProvidersAsync(new ListProvidersRequest(), cancellationToken: cancellationToken).ResponseAsync,
            full,
            r => r.Providers.Count == 0 ? "no providers configured" : string.Join('\n', r.Providers.Select(ProviderLine)));

    [McpServerTool(Name = "get_audit_logs", ReadOnly = true)]
    [Description("Recent requests from the audit log: time, model, target, status, latency, tokens")]
    public Task<string> GetAuditLogsAsync(
        [Description("Only records of the last N minutes; 0 = any time")] uint sinceMinutes = 60,
        [Description("Only this requested model")] string? model = null,
        [Description("Only this API key id")] string? keyId = null,
        [Description("At most this many records (1-10000)")] uint limit = 20,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default)
    {
        var request = new QueryAuditRequest { Model = model ?? "", KeyId = keyId ?? "", Limit = limit };
        if (sinceMinutes > 0)
        {
            request.Since = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(-sinceMinutes));
        }

        return CallAsync(
            () => admin.QueryAuditAsync(request, cancellationToken: cancellationToken).ResponseAsync,
            full,
            r => r.Records.Count == 0 ? "no audit records match" : string.Join('\n', r.Records.Select(AuditLine)));
    }

    [McpServerTool(Name = "scan_models")]
    [Description("Rescan the model directories and configured model files; reports counts and unreadable files")]
    public Task<string> ScanModelsAsync([Description(FullDescription)] bool full = false, CancellationToken cancellationToken = default) =>
        CallAsync(() => admin.ScanModelsAsync(new ScanModelsRequest(), cancellationToken: cancellationToken).ResponseAsync, full, ScanCommand.Render);

    [McpServerTool(Name = "plan_load", ReadOnly = true)]
    [Description("Dry-run placement of a load: GPUs, layers, context and every memory term; changes nothing")]
    public Task<string> PlanLoadAsync(
        [Description("Model name or alias")] string name,
        [Description("Context length in tokens; 0 = configured")] uint context = 0,
        [Description("GPU layers: 'auto' or a number; empty = configured")] string? gpuLayers = null,
        [Description("Preferred GPU index")] uint? gpu = null,
        [Description("Requests served at once, each with the full context; 0 = configured")] uint parallel = 0,
        [Description("KV cache type for K and V (f16, q8_0, q4_0, ...); empty = configured")] string? cacheType = null,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default)
    {
        var request = new PlanLoadRequest { Name = name, Context = context, GpuLayers = gpuLayers ?? "", Parallel = parallel, CacheType = cacheType ?? "" };
        if (gpu is { } index)
        {
            request.Gpu = index;
        }

        return CallAsync(() => admin.PlanLoadAsync(request, cancellationToken: cancellationToken).ResponseAsync, full, r => PlanCommand.Render(name, r, TableWidth));
    }

    [McpServerTool(Name = "chat", OpenWorld = true)]
    [Description("Send a prompt through ullmd's OpenAI-compatible gateway (local model or cloud provider) and return the answer")]
    public Task<string> ChatAsync(
        [Description("Model name, alias or route")] string model,
        [Description("The user message")] string prompt,
        [Description("An optional system message")] string? system = null,
        [Description("Maximum tokens to generate")] int? maxTokens = null,
        [Description("Return the raw OpenAI JSON response")] bool full = false,
        CancellationToken cancellationToken = default) =>
        chat.SendAsync(model, prompt, system, maxTokens, full, cancellationToken);

    [McpServerTool(Name = "complete", OpenWorld = true)]
    [Description("The same as chat, under the conventional name: one chat completion through ullmd's OpenAI-compatible gateway")]
    public Task<string> CompleteAsync(
        [Description("Model name, alias or route")] string model,
        [Description("The user message")] string prompt,
        [Description("An optional system message")] string? system = null,
        [Description("Maximum tokens to generate")] int? maxTokens = null,
        [Description("Return the raw OpenAI JSON response")] bool full = false,
        CancellationToken cancellationToken = default) =>
        chat.SendAsync(model, prompt, system, maxTokens, full, cancellationToken);

    [McpServerTool(Name = "run_security_audit", ReadOnly = true)]
    [Description("The ullmctl doctor checks: socket modes, data_dir, secrets, anonymous access, API keys, systemd, NVML, sandbox paths, listeners; one line per finding with severity and fix")]
    public async Task<string> RunSecurityAuditAsync(
        [Description("Audit this config file instead of the one ullmd runs")] string? configPath = null,
        [Description("PEM certificate files to check (validity, expiry within 30 days)")] string[]? certificates = null,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default)
    {
        DoctorRequest request;
        try
        {
            request = await DoctorCommand.RequestAsync(configPath, certificates ?? [], [], cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new McpException(e.Message);
        }

        return await CallAsync(
            () => admin.DoctorAsync(request, cancellationToken: cancellationToken).ResponseAsync,
            full,
            r => $"worst: {r.WorstSeverity}\n{r.Render()}");
    }

    [McpServerTool(Name = "validate_config", ReadOnly = true)]
    [Description("Check a config with ullmd's loader, as ullmd --check does: 'valid' with counts, or every error with file:line:column")]
    public Task<string> ValidateConfigAsync(
        [Description("A config file to read")] string? path = null,
        [Description("Config text (TOML) to check instead of a file")] string? toml = null,
        [Description(FullDescription)] bool full = false,
        CancellationToken cancellationToken = default)
    {
        if ((path is null) == (toml is null))
        {
            throw new McpException("give either 'path' or 'toml'");
        }

        var request = new ValidateConfigRequest { ConfigPath = path is null ? "" : Path.GetFullPath(path) };
        try
        {
            request.ConfigToml = toml ?? File.ReadAllText(path!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new McpException($"cannot read {path}: {e.Message}");
        }

        return CallAsync(
            () => admin.ValidateConfigAsync(request, cancellationToken: cancellationToken).ResponseAsync,
            full,
            r => r.Valid
                ? $"valid: {r.Summary}"
                : $"invalid: {r.Errors.Count} error(s)\n" + string.Join('\n', r.Errors.Select(e =>
                    (e.Line > 0 ? $"{e.File}:{e.Line}:{e.Column}: " : $"{e.File}: ") + (e.KeyPath.Length > 0 ? $"{e.KeyPath}: {e.Message}" : e.Message))));
    }

    private static async Task<string> CallAsync<T>(Func<Task<T>> call, bool full, Func<T, string> summary)
        where T : IMessage
    {
        try
        {
            var response = await call();
            return full ? Json.Format(response) : summary(response).TrimEnd();
        }
        catch (RpcException e)
        {
            throw ToolError(e);
        }
    }

    private static async Task<string> FollowAsync(Func<AsyncServerStreamingCall<LoadProgress>> start, bool full, CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        LoadProgress? last = null;
        try
        {
            using var call = start();
            await foreach (var progress in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                last = progress;
                lines.Add(full
                    ? Json.Format(progress)
                    : $"{Printer.Duration(progress.ElapsedMs)} {progress.Model} {LoadProgressDisplay.PhaseName(progress.Phase)}{(progress.Message.Length > 0 ? ": " + progress.Message : "")}");
            }
        }
        catch (RpcException e)
        {
            throw ToolError(e);
        }

        if (last?.Phase == LoadPhase.Failed)
        {
            throw new McpException(string.Join('\n', lines));
        }

        return string.Join('\n', lines);
    }

    private static McpException ToolError(RpcException e) => e.StatusCode switch
    {
        StatusCode.Unimplemented => new McpException(CtlErrors.NotImplemented(e.Status)),
        StatusCode.Unavailable => new McpException("ullmd is not reachable on its admin socket: " + e.Status.Detail),
        _ => new McpException($"{e.StatusCode}: {e.Status.Detail}"),
    };

    private static string ModelLine(Model m)
    {
        var profile = m.Profile is { } p ? $"{p.Architecture} {p.Quantization}, {p.LayerCount} layers, ctx {p.ContextLength}" : m.ProfileError.Length > 0 ? "unreadable" : "no profile";
        var state = m.Instance is { } i ? ModelsCommand.StateName(i.State) : "unloaded";
        return $"{m.Name} ({m.Backend}; {profile}): {state}";
    }

    private static string ModelDetails(Model m)
    {
        var text = new StringBuilder($"{m.Name}: {m.Backend} from {m.Source}\n");
        if (m.Aliases.Count > 0)
        {
            text.Append("aliases: ").Append(string.Join(", ", m.Aliases)).Append('\n');
        }

        text.Append($"config: context {(m.Context == 0 ? "model's own" : m.Context.ToString(System.Globalization.CultureInfo.InvariantCulture))}, gpu layers {m.GpuLayers}, priority {m.Priority}{(m.Pinned ? ", pinned" : "")}\n");
        if (m.Profile is { } p)
        {
            text.Append($"profile: {p.Architecture}, {p.ParameterCount:N0} parameters, {p.Quantization}, {p.LayerCount} layers, ")
                .Append($"{p.HeadCount} heads ({p.HeadCountKv} KV), embedding {p.EmbeddingLength}, ctx {p.ContextLength}, {Printer.Bytes(p.FileBytes)}\n");
        }
        else if (m.ProfileError.Length > 0)
        {
            text.Append("profile: cannot be read: ").Append(m.ProfileError).Append('\n');
        }

        text.Append(m.Instance is { } i ? $"state: {ModelsCommand.StateName(i.State)} as {i.Unit}" : "state: unloaded");
        return text.ToString();
    }

    private static string StatusSummary(StatusResponse s)
    {
        var text = new StringBuilder($"ullmd {s.Version}, up {Printer.Duration(s.UptimeMs)}\n");
        text.Append($"models: {s.ConfiguredModels} configured, {s.LoadedModels} loaded; providers: {s.ConfiguredProviders}; requests: {s.InFlightRequests} in flight, {s.QueuedRequests} queued\n");
        text.Append(s.CpuModeReason.Length > 0
            ? $"GPUs: none, CPU mode: {s.CpuModeReason}\n"
            : "GPUs: " + string.Join("; ", s.Gpus.Select(g => $"{g.Index} {g.Name} {Printer.Bytes(g.FreeBytes)} free of {Printer.Bytes(g.TotalBytes)}")) + "\n");
        foreach (var i in s.Instances)
        {
            text.Append($"loaded: {i.Model} {ModelsCommand.StateName(i.State)} on GPUs [{string.Join(',', i.Gpus)}], ctx {i.Context}\n");
        }

        return text.ToString();
    }

    private static string ProviderLine(Provider p) =>
        $"{p.Name} ({p.Kind}): key {(p.KeyPresent ? "present" : "missing")}, breaker {p.Breaker?.State ?? "closed"}, "
        + $"{p.Requests} requests, {p.Failures} failures, TTFT {p.TtftEwmaMs:0} ms";

    private static string AuditLine(AuditRecord r) =>
        $"{Printer.Time(r.Time)} {r.ModelRequested} -> {(r.Target.Length > 0 ? r.Target : "-")} {r.HttpStatus} {r.Outcome}, "
        + $"{r.LatencyMs} ms, {r.PromptTokens}+{r.CompletionTokens} tokens{(r.Error.Length > 0 ? ", " + r.Error : "")}";
}

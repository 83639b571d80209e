using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gateway.Caching;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Models.Download;
using UnifiedLlm.Daemon.Models.Registry;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using HostDoctor = UnifiedLlm.Daemon.Doctor;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>
/// The admin gRPC API. Each method delegates to the part of the daemon that owns the answer; a method whose engine is not
/// in this build answers UNIMPLEMENTED naming what is missing, never made-up data. Every field is checked with
/// <see cref="AdminInput"/> before use; the methods are bound by <see cref="AdminMethodProvider"/>, which also turns an
/// undecodable request into INVALID_ARGUMENT.
/// </summary>
internal sealed class AdminService(
    ConfigHolder config,
    DaemonInfo daemon,
    Database database,
    ApiKeyStore keys,
    AuditStore audit,
    EventHub events,
    IHostApplicationLifetime lifetime,
    UpstreamHealth upstreams,
    Scheduler scheduler,
    Supervision.IBackendSupervisor supervisor,
    TimeProvider time,
    GpuMonitor gpus,
    ModelRegistry registry,
    LoadPlanPreview planPreview,
    ModelDownloader downloads,
    IEnumerable<Backends.IBackendDriver> drivers,
    CacheGate cacheGate,
    ResponseCache responseCache)
{
    private const int DefaultLogLines = 50;
    private const int MaxLogLines = 10_000;

    /// <summary>How long a followed log stream goes on after its instance ended, for the last lines to arrive.</summary>
    private static readonly TimeSpan LogDrainTime = TimeSpan.FromSeconds(1);

    /// <summary>How often a download's progress is sent to a pull or a load in progress.</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(500);

    public async Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        var current = config.Current;
        var now = time.GetUtcNow();
        var response = new StatusResponse
        {
            Version = DaemonInfo.Version,
            StartedAt = Timestamp.FromDateTimeOffset(daemon.StartedAt),
            UptimeMs = (ulong)Math.Max(0, (now - daemon.StartedAt).TotalMilliseconds),
            ConfigPath = current.SourcePath,
            ConfigLoadedAt = Timestamp.FromDateTimeOffset(config.LoadedAt),
            ConfiguredModels = (uint)current.Models.Count,
            ConfiguredProviders = (uint)current.Providers.Count,
            ActiveApiKeys = (uint)await keys.CountActiveAsync(context.CancellationToken),
            DatabasePath = database.Path,
            DatabaseSchemaVersion = (uint)database.SchemaVersion,
            Supervisor = supervisor.Kind,
            EventWatchers = (uint)events.SubscriberCount,
        };
        var instances = scheduler.Instances();
        response.LoadedModels = (uint)instances.Count(i => i.State == Storage.InstanceState.Ready);
        response.Instances.AddRange(instances.Select(InstanceMapping.ToProto));
        response.Holds.AddRange(scheduler.Holds().Select(InstanceMapping.ToProto));
        response.Listeners.AddRange(daemon.Listeners.Select(l => new Listener { Name = l.Name, Address = l.Address, Mode = l.Mode, Group = l.Group }));
        var snapshot = await CurrentGpusAsync(context.CancellationToken);
        response.CpuModeReason = snapshot.CpuModeReason ?? "";
        response.Gpus.AddRange(snapshot.Devices.Select(GpuMapping.ToSummary));
        response.Breakers.AddRange(upstreams.Breakers().Select(ProtoMapping.ToProto));
        return response;
    }

    public async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var backend = AdminInput.Name(request.Backend, "backend");
        var backends = EnumNames.Backends.Names.Concat(config.Current.Backends.Generic.Keys).ToList();
        if (backend.Length > 0 && !backends.Contains(backend, StringComparer.Ordinal))
        {
            throw AdminInput.Invalid("backend", $"'{backend}' is not one of {string.Join(", ", backends.Select(b => $"'{b}'"))}{Suggestions.DidYouMean(backend, backends)}");
        }

        var instances = scheduler.Instances().Where(i => i.State != Storage.InstanceState.Stopped).ToDictionary(i => i.Model, StringComparer.Ordinal);
        var response = new ListModelsResponse();
        var models = config.Current.Models.Values
            .Where(m => backend.Length == 0 || m.BackendKey == backend)
            .Where(m => !request.LoadedOnly || (instances.TryGetValue(m.Name, out var i) && i.State == Storage.InstanceState.Ready))
            .OrderBy(m => m.Name, StringComparer.Ordinal);
        foreach (var model in models)
        {
            response.Models.Add(await WithProfileAsync(model, context.CancellationToken));
        }

        return response;
    }

    public Task<Model> GetModel(GetModelRequest request, ServerCallContext context) =>
        WithProfileAsync(FindModel(request.Name, "name"), context.CancellationToken);

    public async Task<ReloadConfigResponse> ReloadConfig(ReloadConfigRequest request, ServerCallContext context)
    {
        var result = await config.ReloadAsync(context.CancellationToken);
        var response = new ReloadConfigResponse { Applied = result.Applied };
        response.Errors.AddRange((IEnumerable<UnifiedLlm.Admin.V1.ConfigError>)result.Errors.Select(HostDoctor.DoctorReport.ToProto));
        response.Changes.AddRange(result.Changes);
        return response;
    }

    public async Task<QueryAuditResponse> QueryAudit(QueryAuditRequest request, ServerCallContext context)
    {
        if (request.Limit > AuditStore.MaxLimit)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, $"limit {request.Limit} is above the maximum {AuditStore.MaxLimit}"));
        }

        var rows = await audit.QueryAsync(
            new AuditQuery(
                AdminInput.Time(request.Since, "since"),
                AdminInput.Filter(request.Model, "model"),
                AdminInput.Filter(request.KeyId, "key_id"),
                request.Limit == 0 ? 100 : (int)request.Limit),
            context.CancellationToken);
        var response = new QueryAuditResponse();
        response.Records.AddRange(rows.Select(ProtoMapping.ToProto));
        return response;
    }

    public async Task<CreateApiKeyResponse> CreateApiKey(CreateApiKeyRequest request, ServerCallContext context)
    {
        if (!ConfigLoader.IsSafeName(request.Name))
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, $"name: '{AdminInput.Echo(request.Name)}' must be 1-64 letters, digits, '.', '_', '-' or ':'"));
        }

        var expires = AdminInput.Time(request.ExpiresAt, "expires_at");
        var models = AdminInput.List(request.Models, "models", AdminInput.MaxFilterLength);
        var requestsPerMinute = AdminInput.ToInt(request.RequestsPerMinute, "requests_per_minute");
        var tokensPerMinute = AdminInput.ToLong(request.TokensPerMinute, "tokens_per_minute");
        if (expires is not null && expires <= time.GetUtcNow())
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, "expires_at: must be in the future"));
        }

        try
        {
            var (key, secret) = await keys.CreateAsync(
                request.Name, models, requestsPerMinute, tokensPerMinute, expires, context.CancellationToken);
            return new CreateApiKeyResponse { Key = ProtoMapping.ToProto(key), Secret = secret };
        }
        catch (DuplicateKeyNameException e)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.AlreadyExists, e.Message));
        }
    }

    public async Task<ListApiKeysResponse> ListApiKeys(ListApiKeysRequest request, ServerCallContext context)
    {
        var response = new ListApiKeysResponse();
        response.Keys.AddRange((await keys.ListAsync(request.IncludeRevoked, context.CancellationToken)).Select(ProtoMapping.ToProto));
        return response;
    }

    public async Task<RevokeApiKeyResponse> RevokeApiKey(RevokeApiKeyRequest request, ServerCallContext context)
    {
        var key = await keys.RevokeAsync(AdminInput.Filter(request.Id, "id"), context.CancellationToken)
            ?? throw new RpcException(new Grpc.Core.Status(StatusCode.NotFound, $"no API key with id or name '{AdminInput.Echo(request.Id)}'"));
        events.Publish(new DaemonEvent(time.GetUtcNow(), "key", $"API key '{key.Name}' ({key.Id}) revoked"));
        return new RevokeApiKeyResponse { Key = ProtoMapping.ToProto(key) };
    }

    public Task<ListProvidersResponse> ListProviders(ListProvidersRequest request, ServerCallContext context)
    {
        var response = new ListProvidersResponse();
        response.Providers.AddRange(config.Current.Providers.Values.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => ProtoMapping.ToProto(p, upstreams)));
        return Task.FromResult(response);
    }

    public async Task WatchEvents(WatchEventsRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        // Watch streams never end on their own; ending them when ullmd stops keeps shutdown from waiting on idle clients.
        var kinds = AdminInput.List(request.Kinds, "kinds", AdminInput.MaxNameLength);
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await foreach (var item in events.SubscribeAsync(kinds, watch.Token))
            {
                await responseStream.WriteAsync(ProtoMapping.ToProto(item), watch.Token);
            }
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            return;
        }
    }

    public async Task<ScanModelsResponse> ScanModels(ScanModelsRequest request, ServerCallContext context)
    {
        var summary = await registry.ScanAsync(context.CancellationToken);
        events.Publish(new DaemonEvent(
            time.GetUtcNow(), "scan", $"{summary.FilesSeen} model file(s): {summary.Added} added, {summary.Updated} updated, {summary.Removed} removed, {summary.Errors.Count} error(s)"));
        return RegistryMapping.ToProto(summary);
    }

    public async Task LoadModel(LoadModelRequest request, IServerStreamWriter<LoadProgress> responseStream, ServerCallContext context)
    {
        // An unknown name is NOT_FOUND before any progress is sent, as for every other command naming a model.
        var model = FindModel(request.Name, "name");
        var overrides = AdminInput.Overrides(request.Context, request.GpuLayers, request.HasGpu ? request.Gpu : null, request.Parallel, request.CacheType);
        if (!overrides.IsEmpty && model.Backend != BackendKind.LlamaCpp)
        {
            throw AdminInput.Invalid("name", $"per-load overrides apply to llama.cpp models; '{model.Name}' is served by {ConfigLoader.KeyOf(model.Backend)}");
        }

        await LoadWithProgressAsync(request.Name, responseStream, ct => scheduler.LoadAsync(request.Name, ct, overrides), context.CancellationToken);
    }

    public async Task PullModel(PullModelRequest request, IServerStreamWriter<PullProgress> responseStream, ServerCallContext context)
    {
        var model = FindModel(request.Name, "name");
        if (model.Backend == BackendKind.Ollama)
        {
            await PullOllamaAsync(model, responseStream, context.CancellationToken);
            return;
        }

        if (model.Remote is null)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.FailedPrecondition,
                $"name: {model.Name} has nothing to pull: its source {model.Source} is {(model.Backend == BackendKind.Vllm ? "fetched by vLLM itself" : "a local file")}, not a URL or an hf: reference"));
        }

        var download = downloads.Start(model);
        while (await Task.WhenAny(download.Completion, Task.Delay(ProgressInterval, time, context.CancellationToken)) != download.Completion)
        {
            await responseStream.WriteAsync(DownloadMapping.ToProto(download.Snapshot(), "downloading"), context.CancellationToken);
        }

        try
        {
            await download.Completion;
        }
        catch (ModelDownloadException e)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, $"{model.Name}: {e.Message}"));
        }

        var remote = model.Remote;
        var bytes = remote.Parts.Sum(p => new FileInfo(p.LocalPath).Length);
        var verified = remote.Parts.All(p => p.Sha256 is not null) ? "sha256 verified" : "no sha256 configured";
        await responseStream.WriteAsync(
            new PullProgress
            {
                Model = model.Name,
                Status = $"{model.Name} is in {remote.LocalPath} ({DownloadProgress.Bytes(bytes)}, {verified})",
                File = remote.LocalPath,
                Part = (uint)remote.Parts.Count,
                Parts = (uint)remote.Parts.Count,
                CompletedBytes = (ulong)bytes,
                TotalBytes = (ulong)bytes,
                Done = true,
            },
            context.CancellationToken);
    }

    private async Task PullOllamaAsync(ModelConfig model, IServerStreamWriter<PullProgress> responseStream, CancellationToken cancellationToken)
    {
        var ollama = drivers.OfType<Backends.OllamaDriver>().Single();
        try
        {
            await foreach (var status in ollama.PullAsync(config.Current.Backends.Ollama, model.Source, cancellationToken))
            {
                await responseStream.WriteAsync(DownloadMapping.ToProto(model.Name, status), cancellationToken);
            }
        }
        catch (Exception e) when (e is Backends.OllamaPullException or Backends.BackendStartException or Supervision.SandboxPathException)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, $"{model.Name}: {e.Message}"));
        }
    }

    public async Task<UnloadModelResponse> UnloadModel(UnloadModelRequest request, ServerCallContext context)
    {
        AdminInput.Name(request.Name, "name");
        var started = time.GetTimestamp();
        var unloaded = await scheduler.UnloadAsync(request.Name, request.Force, context.CancellationToken);
        if (!unloaded.Succeeded)
        {
            // A name that is neither loaded nor configured is NOT_FOUND (exit 5 in ullmctl), not "not loaded".
            FindModel(request.Name, "name");
            throw InstanceMapping.ToRpc(unloaded.Failure);
        }

        return new UnloadModelResponse
        {
            Model = request.Name,
            Unit = unloaded.Value.UnitName,
            DrainedRequests = (ulong)unloaded.Value.Leases,
            ElapsedMs = (ulong)time.GetElapsedTime(started).TotalMilliseconds,
        };
    }

    public async Task SwitchModel(SwitchModelRequest request, IServerStreamWriter<LoadProgress> responseStream, ServerCallContext context)
    {
        // One decision in the scheduler: no request can load FROM again between its unload and TO's load.
        FindModel(request.From, "from");
        FindModel(request.To, "to");
        await LoadWithProgressAsync(request.To, responseStream, ct => scheduler.SwitchAsync(request.From, request.To, ct), context.CancellationToken);
    }

    public async Task<ListGpusResponse> ListGpus(ListGpusRequest request, ServerCallContext context)
    {
        var snapshot = await gpus.RefreshAsync(context.CancellationToken);
        return GpuMapping.ToProto(snapshot, (ulong)config.Current.Gpu.ReserveMib * 1024 * 1024);
    }

    public async Task<PlanLoadResponse> PlanLoad(PlanLoadRequest request, ServerCallContext context)
    {
        var model = FindModel(request.Name, "name");
        var overrides = AdminInput.Overrides(request.Context, request.GpuLayers, request.HasGpu ? request.Gpu : null, request.Parallel, request.CacheType);
        try
        {
            var (decision, profile, ruleVictims) = planPreview.Plan(new PlanQuestion(model, overrides), context.CancellationToken);
            return PlanMapping.ToProto(decision, profile, ruleVictims, model.Backend);
        }
        catch (PlanInputException e)
        {
            throw new RpcException(new Grpc.Core.Status(e.IsBadArgument ? StatusCode.InvalidArgument : StatusCode.FailedPrecondition, e.Message));
        }
    }

    public async Task StreamLogs(StreamLogsRequest request, IServerStreamWriter<LogLine> responseStream, ServerCallContext context)
    {
        var model = FindModel(request.Model, "model");
        var instance = scheduler.Instances().Where(i => i.Model == model.Name).OrderByDescending(i => i.LastUsed).FirstOrDefault()
            ?? throw new RpcException(new Grpc.Core.Status(StatusCode.NotFound, $"model: '{model.Name}' has not been started since ullmd started; load it first"));
        var lines = request.Lines == 0 ? DefaultLogLines : (int)Math.Min(request.Lines, MaxLogLines);
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);

        // Following ends (OK) once the instance has stopped or failed and its last lines had time to arrive, so that a
        // client can say so and follow the model's next instance; a journal follow would otherwise never end.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(watch.Token);
        var endWatch = request.Follow ? EndWhenStoppedAsync(instance.UnitName, ended, watch.Token) : Task.CompletedTask;
        try
        {
            await foreach (var line in supervisor.ReadLogsAsync(instance.UnitName, lines, request.Follow, ended.Token))
            {
                await responseStream.WriteAsync(
                    new LogLine { Time = Timestamp.FromDateTimeOffset(line.Timestamp), Unit = line.UnitName, Priority = (uint)line.Priority, Message = line.Message },
                    ended.Token);
            }
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested && !watch.IsCancellationRequested)
        {
            return;
        }
        catch (Supervision.BackendNotFoundException)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.NotFound, $"model: the output of '{model.Name}' ({instance.UnitName}) is no longer kept"));
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            return;
        }
        finally
        {
            await ended.CancelAsync();
            await endWatch;
        }
    }

    /// <summary>Cancels <paramref name="ended"/> a moment after the instance in <paramref name="unit"/> has stopped or failed.</summary>
    private async Task EndWhenStoppedAsync(string unit, CancellationTokenSource ended, CancellationToken cancellationToken)
    {
        try
        {
            using var subscribed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var stream = events.SubscribeAsync([], subscribed.Token).GetAsyncEnumerator(subscribed.Token);
            await using (stream)
            {
                // The first MoveNextAsync subscribes before it waits; then the current state: an end between the two is in either.
                var next = stream.MoveNextAsync().AsTask();
                var over = scheduler.Instances().Any(i => i.UnitName == unit && i.State is Storage.InstanceState.Stopped or Storage.InstanceState.Failed);
                while (!over && await next)
                {
                    over = stream.Current.Unit == unit && stream.Current.State is "stopped" or "failed";
                    next = over ? next : stream.MoveNextAsync().AsTask();
                }

                if (!next.IsCompleted)
                {
                    await subscribed.CancelAsync();
                    await next.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }

            await Task.Delay(LogDrainTime, time, cancellationToken);
            await ended.CancelAsync();
        }
        catch (OperationCanceledException)
        {
            // The call ended first.
        }
    }

    /// <summary>The configured model with this name or alias; INVALID_ARGUMENT when longer than any name, else NOT_FOUND.</summary>
    private ModelConfig FindModel(string name, string field)
    {
        AdminInput.Name(name, field);
        var models = config.Current.Models;
        return ModelNames.Of(config.Current).Find(name)
            ?? throw new RpcException(new Grpc.Core.Status(
                StatusCode.NotFound,
                $"{field}: no model named '{name}'{Suggestions.DidYouMean(name, models.Keys)}"));
    }

    private async Task<Model> WithProfileAsync(ModelConfig model, CancellationToken cancellationToken)
    {
        var proto = ProtoMapping.ToProto(model);
        if (scheduler.Instances().FirstOrDefault(i => i.Model == model.Name && i.State != Storage.InstanceState.Stopped) is { } instance)
        {
            proto.Instance = InstanceMapping.ToProto(instance);
        }

        if (scheduler.Holds().FirstOrDefault(h => h.Model == model.Name) is { } hold)
        {
            proto.Hold = InstanceMapping.ToProto(hold);
            proto.HoldReason = hold.Describe();
        }

        if ((model.Backend == BackendKind.LlamaCpp && model.Source.Length > 0) || (model.Backend == BackendKind.Vllm && Path.IsPathRooted(model.Source)))
        {
            var scanned = await registry.ProfileAsync(model.Source, cancellationToken);
            proto.Profile = scanned.Profile is { } profile ? RegistryMapping.ToProto(profile, scanned.ScannedAt) : null;
            proto.ProfileError = scanned.Error ?? "";
        }

        return proto;
    }

    /// <summary>The monitor's snapshot, or a fresh reading when it has not polled yet (right after start).</summary>
    public async Task<DoctorResponse> Doctor(DoctorRequest request, ServerCallContext context)
    {
        if (request.ConfigToml.Length == 0 && request.ConfigPath.Length > 0)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, "config_path: given without config_toml (send the file's text)"));
        }

        var path = ConfigPathOf(request.ConfigPath);
        var certificates = request.Certificates.Select(c => new HostDoctor.CertificateInput(
            AdminInput.Filter(c.Name, "certificates.name"), c.CertificatePem, AdminInput.Filter(c.KeyName, "certificates.key_name"), c.KeyPem.Length > 0 ? c.KeyPem : null)).ToList();
        return await HostDoctor.DoctorReport.BuildAsync(
            path,
            _ => Task.FromResult(request.ConfigToml.Length > 0 ? ConfigLoader.Parse(request.ConfigToml, path) : config.Current),
            async (_, cancellationToken) =>
            {
                var snapshot = await CurrentGpusAsync(cancellationToken);
                var now = time.GetUtcNow();
                var active = (await keys.ListAsync(includeRevoked: false, cancellationToken)).Where(k => k.IsActive(now)).ToList();
                return new HostDoctor.DaemonFacts(daemon.Listeners, supervisor.Kind, snapshot.CpuModeReason, snapshot.Devices.Count, active);
            },
            certificates,
            time.GetUtcNow(),
            context.CancellationToken);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "AdminMethodProvider binds instance methods")]
    public Task<ValidateConfigResponse> ValidateConfig(ValidateConfigRequest request, ServerCallContext context)
    {
        var path = ConfigPathOf(request.ConfigPath);
        var response = new ValidateConfigResponse();
        try
        {
            var parsed = ConfigLoader.Parse(request.ConfigToml, path);
            response.Valid = true;
            response.Summary = $"{parsed.Models.Count} model(s), {parsed.Providers.Count} provider(s), {parsed.Routes.Count} route(s)";
        }
        catch (ConfigException e)
        {
            response.Errors.AddRange((IEnumerable<UnifiedLlm.Admin.V1.ConfigError>)e.Errors.Select(HostDoctor.DoctorReport.ToProto));
        }

        return Task.FromResult(response);
    }

    private static string ConfigPathOf(string path) => path.Length > 0 ? AdminInput.Filter(path, "config_path") : "config.toml";


    private async Task<GpuSnapshot> CurrentGpusAsync(CancellationToken cancellationToken)
    {
        var snapshot = gpus.Current;
        return snapshot.CpuModeReason == GpuMonitor.NotReadYetReason ? await gpus.RefreshAsync(cancellationToken) : snapshot;
    }

    private async Task LoadWithProgressAsync(
        string model, IServerStreamWriter<LoadProgress> responseStream, Func<CancellationToken, Task<Outcome<InstanceInfo>>> start, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var configured = ModelNames.Of(config.Current).Find(model);
        using var watch = scheduler.Progress.Watch(configured?.Name ?? model);
        var load = start(cancellationToken);
        var step = watch.Steps.WaitToReadAsync(cancellationToken).AsTask();
        var tick = configured?.Remote is null ? Task.Delay(Timeout.Infinite, cancellationToken) : Task.Delay(ProgressInterval, time, cancellationToken);
        while (await Task.WhenAny(load, step, tick) != load)
        {
            if (step.IsCompleted)
            {
                await WriteStepsAsync(model, watch, started, responseStream, cancellationToken);
                step = watch.Steps.WaitToReadAsync(cancellationToken).AsTask();
            }

            if (tick.IsCompleted)
            {
                if (downloads.Progress(configured!) is { } progress)
                {
                    await responseStream.WriteAsync(
                        new LoadProgress
                        {
                            Model = model,
                            Phase = LoadPhase.Downloading,
                            Message = progress.Describe(),
                            ElapsedMs = (ulong)time.GetElapsedTime(started).TotalMilliseconds,
                            Download = DownloadMapping.ToProto(progress, "downloading"),
                        },
                        cancellationToken);
                }

                tick = Task.Delay(ProgressInterval, time, cancellationToken);
            }
        }

        // The steps reported just before the load ended come before its end.
        await WriteStepsAsync(model, watch, started, responseStream, cancellationToken);
        var loaded = await load;
        if (!loaded.Succeeded)
        {
            await responseStream.WriteAsync(
                new LoadProgress { Model = model, Phase = LoadPhase.Failed, Message = loaded.Failure.Reason, ElapsedMs = (ulong)time.GetElapsedTime(started).TotalMilliseconds },
                cancellationToken);
            throw InstanceMapping.ToRpc(loaded.Failure);
        }

        var instance = loaded.Value;
        await responseStream.WriteAsync(
            new LoadProgress
            {
                Model = model,
                Phase = LoadPhase.Ready,
                ElapsedMs = (ulong)time.GetElapsedTime(started).TotalMilliseconds,
                Message = instance.Plan?.Summary() ?? string.Empty,
                Instance = InstanceMapping.ToProto(instance),
            },
            cancellationToken);
    }

    private async Task WriteStepsAsync(string model, LoadWatch watch, long started, IServerStreamWriter<LoadProgress> responseStream, CancellationToken cancellationToken)
    {
        while (watch.Steps.TryRead(out var step))
        {
            var progress = InstanceMapping.ToProto(step);
            progress.Model = model;
            progress.ElapsedMs = (ulong)time.GetElapsedTime(started).TotalMilliseconds;
            await responseStream.WriteAsync(progress, cancellationToken);
        }
    }

    public async Task<CacheStatsResponse> CacheStats(CacheStatsRequest request, ServerCallContext context)
    {
        var stats = await responseCache.StatsAsync(CacheOwners(request.Model), context.CancellationToken);
        var response = new CacheStatsResponse();
        response.Models.AddRange(stats.Select(CacheMapping.ToProto));
        return response;
    }

    public async Task<ClearCacheResponse> ClearCache(ClearCacheRequest request, ServerCallContext context)
    {
        var owners = CacheOwners(request.Model);
        var (entries, bytes) = await responseCache.ClearAsync(owners, context.CancellationToken);
        events.Publish(new DaemonEvent(time.GetUtcNow(), "cache", $"cleared {entries} entr{(entries == 1 ? "y" : "ies")} of {string.Join(", ", owners.Select(o => o.Name))}"));
        var response = new ClearCacheResponse { Entries = (ulong)entries, Bytes = (ulong)bytes };
        response.Models.AddRange(owners.Select(o => o.Name));
        return response;
    }

    /// <summary>The cache owner a name reaches, or every owner for an empty name; NOT_FOUND for a name without a cache.</summary>
    private IReadOnlyList<CacheOwner> CacheOwners(string model)
    {
        var name = AdminInput.Name(model, "model");
        if (name.Length == 0)
        {
            return cacheGate.ConfiguredOwners();
        }

        return cacheGate.Owner(name) is { } owner
            ? [owner]
            : throw new RpcException(new Status(StatusCode.NotFound,
                $"'{name}' has no response cache (models and routes with one: {string.Join(", ", cacheGate.ConfiguredOwners().Select(o => o.Name).DefaultIfEmpty("none"))})"));
    }
}

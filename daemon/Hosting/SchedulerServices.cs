using Microsoft.Extensions.DependencyInjection.Extensions;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Download;
using UnifiedLlm.Daemon.Models.Ollama;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// The scheduler with its drivers and instance store, the gateway's view of it (<see cref="IModelEndpoints"/>), and its
/// start: adoption of the backends a previous ullmd left running, then the pinned models.
/// </summary>
internal static class SchedulerServices
{
    public static IServiceCollection AddScheduler(this IServiceCollection services)
    {
        // Backends outlive the supervisor; the scheduler stops them on exit when [server] stop_backends_on_exit says so.
        services.TryAddSingleton<IBackendSupervisor>(sp => new ProcessSupervisor(
            sp.GetRequiredService<ILogger<ProcessSupervisor>>(),
            Path.Combine(sp.GetRequiredService<ConfigHolder>().Current.Server.DataDir, "backends"),
            stopOnDispose: false));
        services.AddSingleton<PortAllocator>();
        services.AddSingleton(new LlamaCppDriverOptions());
        services.AddSingleton<IBackendDriver>(sp => new LlamaCppDriver(
            sp.GetRequiredService<IBackendSupervisor>(),
            sp.GetRequiredService<PortAllocator>(),
            BackendControlHttp.Create(TimeSpan.FromSeconds(5)),
            sp.GetRequiredService<LlamaCppDriverOptions>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<RpcWorkerMonitor>()));
        services.AddSingleton<IBackendDriver>(sp => new OllamaDriver(
            sp.GetRequiredService<IBackendSupervisor>(),
            new OllamaDriverOptions
            {
                ModelsDirectory = OllamaModelStore.DirectoryUnder(sp.GetRequiredService<ConfigHolder>().Current.Server.DataDir),
                ConfiguredModels = () => sp.GetRequiredService<ConfigHolder>().Current.Models.Values.Count(m => m.Backend == BackendKind.Ollama),
                ServerGpuIndices = () => UsableGpus(sp.GetRequiredService<GpuMonitor>().Current, sp.GetRequiredService<ConfigHolder>().Current.Gpu),
            },
            BackendControlHttp.Create(Timeout.InfiniteTimeSpan),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IBackendDriver>(sp => new VllmDriver(
            sp.GetRequiredService<IBackendSupervisor>(),
            new VllmDriverOptions(),
            BackendControlHttp.Create(TimeSpan.FromSeconds(5)),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IBackendDriver>(sp => new GenericDriver(
            sp.GetRequiredService<IBackendSupervisor>(),
            BackendControlHttp.Create(TimeSpan.FromSeconds(5)),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<FootprintStore>();
        services.AddSingleton<GenericFootprints>();
        services.AddSingleton(sp => new LoadPlanner(sp.GetRequiredService<LlamaCppMemoryEstimator>()));
        services.AddSingleton<RpcWorkerMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<RpcWorkerMonitor>());
        services.AddSingleton(sp => MachineReading.Live(sp.GetRequiredService<GpuMonitor>(), sp.GetRequiredService<RpcWorkerMonitor>()));
        services.AddSingleton(new SchedulerOptions());
        services.AddSingleton<InstanceStore>();
        services.TryAddSingleton(new ModelDownloaderOptions());
        services.AddSingleton(sp => NewDownloader(sp));
        services.AddSingleton<Scheduler>();
        services.AddSingleton<IModelEndpoints>(sp => sp.GetRequiredService<Scheduler>());
        services.AddHostedService<BackendAdoption>();
        services.AddHostedService<PinnedModelLoader>();
        services.AddHostedService<StateMetrics>();

        // After adoption, which stops a worker unit a previous ullmd left running, so the port is free again.
        services.AddSingleton<RpcWorkerRole>();
        services.AddHostedService(sp => sp.GetRequiredService<RpcWorkerRole>());
        return services;
    }

    /// <summary>The GPUs of the latest reading that [gpu] allowed lets ullmd use (all when it names none).</summary>
    private static IReadOnlyList<int> UsableGpus(GpuSnapshot snapshot, GpuConfig gpu) =>
        [.. snapshot.Devices.Select(d => d.Index).Where(i => gpu.Allowed.Count == 0 || gpu.Allowed.Contains(i))];

    /// <summary>
    /// The downloader of remote model sources, reporting to the event stream as "download" events. Its client follows
    /// redirects (a hub's file URL redirects to its storage; .NET drops the Authorization header on redirect) and has no
    /// overall timeout: a model takes as long as it takes, and a stalled read is the downloader's to notice.
    /// </summary>
    private static ModelDownloader NewDownloader(IServiceProvider sp)
    {
        var config = sp.GetRequiredService<ConfigHolder>();
        var events = sp.GetRequiredService<EventHub>();
        var time = sp.GetRequiredService<TimeProvider>();
        return new ModelDownloader(
            ModelDownloader.NewHttpClient(),
            () => config.Current.Downloads.Token is { } token
                ? ApiKeyReader.Read(token) is { Length: > 0 } secret
                    ? secret
                    : throw new ModelDownloadException($"the download token ({token}, [downloads]) is missing or empty")
                : null,
            (model, message) => events.Publish(new DaemonEvent(time.GetUtcNow(), "download", message, model)),
            sp.GetRequiredService<ModelDownloaderOptions>(),
            time,
            sp.GetRequiredService<ILogger<ModelDownloader>>());
    }
}

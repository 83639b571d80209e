using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Bench.SchedulerBench;

/// <summary>
/// The scheduler as ullmd builds it, CPU-only: the real llama.cpp driver and process supervisor, a SQLite instance store,
/// the live /proc/meminfo reading, and one model (the tiny one, default ttl and queue settings) loaded and ready.
/// </summary>
internal sealed class SchedulerBed : IAsyncDisposable
{
    public const string Model = "tiny";

    private readonly DirectoryInfo work;
    private readonly ConfigHolder config;
    private readonly ProcessSupervisor supervisor;

    private SchedulerBed(DirectoryInfo work, ConfigHolder config, ProcessSupervisor supervisor, Scheduler scheduler)
    {
        this.work = work;
        this.config = config;
        this.supervisor = supervisor;
        Scheduler = scheduler;
    }

    public Scheduler Scheduler { get; }

    public static async Task<SchedulerBed> StartAsync(string llamaServer, CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("ullm-scheduler-bench-");
        var model = Path.Combine(work.FullName, "tiny.gguf");
        TinyModel.Write(model);
        var toml = $"[backends.llamacpp]\nexecutable = \"{llamaServer}\"\n\n[models.{Model}]\nbackend = \"llamacpp\"\nsource = \"{model}\"\ncontext = 256\n";
        var events = new EventHub();
        var config = new ConfigHolder(ConfigLoader.Parse(toml, "scheduler-bench.toml"), events, TimeProvider.System);
        var supervisor = new ProcessSupervisor(NullLogger<ProcessSupervisor>.Instance);
        var database = await Database.OpenAsync(Path.Combine(work.FullName, "ullm.db"), cancellationToken);
        var driver = new LlamaCppDriver(supervisor, new PortAllocator(), BackendControlHttp.Create(TimeSpan.FromSeconds(5)), new LlamaCppDriverOptions(), TimeProvider.System);
        var machine = new MachineReading(() => GpuSnapshot.CpuMode(DateTimeOffset.UtcNow, "bench: CPU only"), HostMemory.AvailableBytes);
        var scheduler = new Scheduler(
            config, [driver], supervisor, new InstanceStore(database, TimeProvider.System), new LoadPlanner(new LlamaCppMemoryEstimator(new LlamaCppSizingSettings())),
            machine, events, TimeProvider.System, new SchedulerOptions(), NullLogger<Scheduler>.Instance,
            new GenericFootprints(new FootprintStore(database), machine, TimeProvider.System, NullLogger<GenericFootprints>.Instance));
        var bed = new SchedulerBed(work, config, supervisor, scheduler);
        var loaded = await scheduler.LoadAsync(Model, cancellationToken);
        if (!loaded.Succeeded)
        {
            await bed.DisposeAsync();
            throw new InvalidOperationException($"the bench model did not load: {loaded.Failure.Reason}");
        }

        return bed;
    }

    public async ValueTask DisposeAsync()
    {
        await Scheduler.DisposeAsync();
        await supervisor.DisposeAsync();
        config.Dispose();
        work.Delete(recursive: true);
    }
}

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// A scheduler over real tiny GGUF files, the real planner, a real SQLite instance store, a fake clock and a
/// <see cref="FakeBackendDriver"/>, on a CPU-only machine whose free RAM is <see cref="HostBudget"/> minus what the fake
/// backends hold. Its supervisor is a real, idle ProcessSupervisor: the fake driver starts nothing through it.
/// </summary>
internal sealed class SchedulerFixture : IAsyncDisposable
{
    public const int Context = 256;

    private readonly TempDirectory dir;
    private readonly string modelPath;
    private readonly ConfigHolder config;
    private readonly ProcessSupervisor supervisor = new(NullLogger<ProcessSupervisor>.Instance);

    private readonly Database database;

    private SchedulerFixture(TempDirectory dir, Database database, string modelsToml, SchedulerOptions? options, double budgetInModels)
    {
        this.dir = dir;
        this.database = database;
        Store = new InstanceStore(database, Time);
        modelPath = dir.File("tiny.gguf");
        TinyModel.Write(modelPath);
        var estimator = new LlamaCppMemoryEstimator(new LlamaCppSizingSettings());
        OneModelBytes = estimator.EstimateCpuOnly(ModelProfileReader.Read(modelPath, CancellationToken.None), Context, GgmlType.F16).HostTotalBytes;
        HostBudget = (ulong)(OneModelBytes * budgetInModels);
        var configPath = WriteConfig(modelsToml);
        config = new ConfigHolder(ConfigLoader.Parse(File.ReadAllText(configPath), configPath), Events, Time);
        var machine = new MachineReading(() => GpuSnapshot.CpuMode(Time.GetUtcNow(), "test: no GPU"), () =>
        {
            OnHostReading?.Invoke();
            return HostBudget - Driver.RunningHostBytes;
        });
        Scheduler = new Scheduler(
            config, [Driver], supervisor, Store, new LoadPlanner(estimator), machine, Events, Time, options ?? new SchedulerOptions(), NullLogger<Scheduler>.Instance,
            new GenericFootprints(new FootprintStore(database), machine, Time, NullLogger<GenericFootprints>.Instance));
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public EventHub Events { get; } = new();

    public FakeBackendDriver Driver { get; } = new();

    public Scheduler Scheduler { get; }

    public InstanceStore Store { get; }

    public ulong OneModelBytes { get; }

    public ulong HostBudget { get; }

    /// <summary>Runs on each reading of the host's free memory, as a planner makes it: a test may hold a plan there.</summary>
    public Action? OnHostReading { get; set; }

    public static async Task<SchedulerFixture> CreateAsync(string modelsToml, SchedulerOptions? options = null, double budgetInModels = 10)
    {
        var dir = new TempDirectory();
        var database = await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None);
        return new SchedulerFixture(dir, database, modelsToml, options, budgetInModels);
    }

    public static string Model(string name, int ttlSeconds = 0, int priority = 50, string? group = null, bool pinned = false) =>
        $"[models.{name}]\nbackend = \"llamacpp\"\nsource = \"$MODEL\"\ncontext = {Context}\nttl_seconds = {ttlSeconds}\npriority = {priority}\n"
        + (group is null ? "" : $"group = \"{group}\"\n") + (pinned ? "pinned = true\n" : "");

    /// <summary>Rewrites the config file and reloads it, as SIGHUP or `ullmctl reload` do.</summary>
    public async Task ReloadAsync(string modelsToml, CancellationToken cancellationToken)
    {
        WriteConfig(modelsToml);
        var result = await config.ReloadAsync(cancellationToken);
        Assert.True(result.Applied, string.Join("\n", result.Errors));
    }

    /// <summary>
    /// Starts listening for events of <paramref name="kind"/> now; the task completes with the first one (whose message
    /// starts with <paramref name="startingWith"/>, when given).
    /// </summary>
    public async Task<DaemonEvent> NextEventAsync(string kind, CancellationToken cancellationToken, string? startingWith = null)
    {
        var events = Events.SubscribeAsync([kind], cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (events)
        {
            while (await events.MoveNextAsync())
            {
                if (startingWith is null || events.Current.Message.StartsWith(startingWith, StringComparison.Ordinal))
                {
                    return events.Current;
                }
            }

            throw new InvalidOperationException("event stream ended");
        }
    }

    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private string WriteConfig(string modelsToml)
    {
        var path = dir.File("ullm.toml");
        File.WriteAllText(path, modelsToml.Replace("$MODEL", modelPath, StringComparison.Ordinal));
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await Scheduler.DisposeAsync();
        await supervisor.DisposeAsync();
        config.Dispose();
        dir.Dispose();
    }
}

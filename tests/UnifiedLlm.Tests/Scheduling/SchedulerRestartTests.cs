using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Backends;
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
using UnifiedLlm.Tests.Models;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// Restarts of ullmd with real llama-servers, the real ProcessSupervisor and a real SQLite store. A restart is one
/// scheduler disposed with <c>stop_backends_on_exit = false</c> and a second one built, with new drivers and ports, over
/// the same database and the SAME supervisor, which still holds the running children as systemd would hold the units.
/// </summary>
public sealed class SchedulerRestartTests
{
    private const int Context = 256;

    [Fact(Timeout = 300_000)]
    public async Task A_ready_backend_is_adopted_without_a_reload_and_serves_through_a_lease()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await RestartHost.CreateAsync();
        InstanceInfo before;
        await using (var first = host.Start(["a"], stopBackendsOnExit: false))
        {
            await using (var lease = await first.Scheduler.LeaseAsync("a", ct))
            {
                Assert.False(string.IsNullOrEmpty(await RealLlamaServerSchedulingTests.ChatAsync(lease.BaseAddress, lease.UpstreamModel, ct)));
            }

            before = Assert.Single(first.Scheduler.Instances());
        }

        var process = Assert.Single(await host.Supervisor.ListRunningAsync(ct));
        Assert.Equal(before.MainPid, process.MainPid);
        await using var second = host.Start(["a"], stopBackendsOnExit: true);
        var adoptEvent = second.CollectAsync("adopt", 1, ct);

        await second.Scheduler.AdoptAsync(ct);

        var adopted = Assert.Single(second.Scheduler.Instances());
        Assert.Equal(InstanceState.Ready, adopted.State);
        Assert.Equal((before.Id, before.UnitName, before.MainPid, before.BaseAddress), (adopted.Id, adopted.UnitName, adopted.MainPid, adopted.BaseAddress));
        Assert.Equal(Scheduler.AdoptedReason, adopted.Transitions[^1].Reason);
        Assert.Equal(before.Plan!.Summary(), adopted.Plan!.Summary());
        Assert.True(second.Ports.IsAllocated(before.BaseAddress!.Port));
        Assert.Contains(Scheduler.AdoptedReason, Assert.Single(await adoptEvent).Message, StringComparison.Ordinal);
        await using (var lease = await second.Scheduler.LeaseAsync("a", ct))
        {
            Assert.Equal(before.BaseAddress, lease.BaseAddress);
            Assert.False(string.IsNullOrEmpty(await RealLlamaServerSchedulingTests.ChatAsync(lease.BaseAddress, lease.UpstreamModel, ct)));
        }

        var stillOne = Assert.Single(await host.Supervisor.ListRunningAsync(ct));
        Assert.Equal((process.UnitName, process.MainPid), (stillOne.UnitName, stillOne.MainPid));
        var record = await host.Store.GetAsync(before.Id, ct);
        Assert.Equal(InstanceState.Ready, record!.State);
        Assert.Equal((before.BaseAddress.Port, process.MainPid, process.InvocationId), (record.Port, record.MainPid, record.InvocationId));
        var stored = await host.Store.ListTransitionsAsync(before.Id, ct);
        Assert.Equal(
            [InstanceState.Planned, InstanceState.Starting, InstanceState.Loading, InstanceState.Ready, InstanceState.Ready],
            stored.Select(t => t.State));
        Assert.Equal(Scheduler.AdoptedReason, stored[^1].Message);
        Assert.Equal(stored.Select(t => (t.State, t.Message)), adopted.Transitions.Select(t => (t.State, t.Reason)));
    }

    [Fact(Timeout = 300_000)]
    public async Task Units_of_models_no_longer_configured_and_units_without_a_record_are_stopped()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await RestartHost.CreateAsync();
        IReadOnlyList<InstanceInfo> before;
        await using (var first = host.Start(["a", "b"], stopBackendsOnExit: false))
        {
            await first.Scheduler.LoadedAsync("a", ct);
            await first.Scheduler.LoadedAsync("b", ct);
            before = first.Scheduler.Instances();
        }

        var stray = await host.Supervisor.StartAsync(
            new BackendLaunch { UnitName = "ullm-stray-0badf00d.service", Model = "stray", ExecPath = "sleep", Arguments = ["600"] }, ct);
        await using var second = host.Start(["a"], stopBackendsOnExit: true);
        var adoptEvents = second.CollectAsync("adopt", 3, ct);

        await second.Scheduler.AdoptAsync(ct);

        var a = before.Single(i => i.Model == "a");
        var b = before.Single(i => i.Model == "b");
        Assert.Equal(a.Id, Assert.Single(second.Scheduler.Instances()).Id);
        Assert.Equal([a.UnitName], (await host.Supervisor.ListRunningAsync(ct)).Select(p => p.UnitName));
        Assert.True(stray.Exited.IsCompleted);
        Assert.False(Directory.Exists($"/proc/{b.MainPid}"), $"llama-server {b.MainPid} of the removed model b still runs");
        var messages = (await adoptEvents).Select(e => e.Message).ToList();
        Assert.Contains($"{b.UnitName}: not adopted (model no longer configured); stopping it", messages);
        Assert.Contains("ullm-stray-0badf00d.service: not adopted (no record); stopping it", messages);
        var bRecord = await host.Store.GetAsync(b.Id, ct);
        Assert.Equal(InstanceState.Failed, bRecord!.State);
        Assert.Equal("not adopted after ullmd restart (model no longer configured); its unit was stopped", bRecord.Failure);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_unit_whose_invocation_differs_is_stopped_and_a_record_without_a_unit_fails()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await RestartHost.CreateAsync();
        InstanceInfo before;
        await using (var first = host.Start(["a"], stopBackendsOnExit: false))
        {
            before = await first.Scheduler.LoadedAsync("a", ct);
        }

        await host.ExecuteAsync($"UPDATE instances SET invocation_id = 'an-earlier-run' WHERE id = '{before.Id}'", ct);
        await host.Store.InsertAsync(new InstanceRecord
        {
            Id = "0000dead",
            Model = "a",
            Backend = "llama.cpp",
            Unit = "ullm-a-0000dead.service",
            State = InstanceState.Ready,
            StateSince = DateTimeOffset.UtcNow,
            CreatedAt = DateTimeOffset.UtcNow,
        }, ct);
        await using var second = host.Start(["a"], stopBackendsOnExit: true);

        await second.Scheduler.AdoptAsync(ct);

        Assert.Empty(second.Scheduler.Instances());
        Assert.Empty(await host.Supervisor.ListRunningAsync(ct));
        Assert.False(Directory.Exists($"/proc/{before.MainPid}"), $"llama-server {before.MainPid} still runs");
        Assert.Equal(
            "not adopted after ullmd restart (invocation id differs); its unit was stopped",
            (await host.Store.GetAsync(before.Id, ct))!.Failure);
        var ghost = await host.Store.GetAsync("0000dead", ct);
        Assert.Equal((InstanceState.Failed, Scheduler.GoneReason), (ghost!.State, ghost.Failure));
        Assert.Empty(await host.Store.ListActiveAsync(ct));

        await using var lease = await second.Scheduler.LeaseAsync("a", ct);
        var reloaded = Assert.Single(second.Scheduler.Instances());
        Assert.NotEqual(before.Id, reloaded.Id);
        Assert.NotEqual(before.MainPid, reloaded.MainPid);
    }

    /// <summary>What survives a restart of ullmd: the model file, the database and the supervisor with its children.</summary>
    private sealed class RestartHost : IAsyncDisposable
    {
        private readonly TempDirectory dir;
        private readonly string binary;
        private readonly string model;
        private readonly Database database;

        private RestartHost(TempDirectory dir, string binary, string model, Database database)
        {
            this.dir = dir;
            this.binary = binary;
            this.model = model;
            this.database = database;
            Store = new InstanceStore(database, TimeProvider.System);
        }

        public ProcessSupervisor Supervisor { get; } = new(NullLogger<ProcessSupervisor>.Instance);

        public InstanceStore Store { get; }

        public static async Task<RestartHost> CreateAsync()
        {
            var binary = LlamaServerBinary.Find();
            if (binary is null)
            {
                Assert.Skip(LlamaServerBinary.HowToGet);
            }

            var dir = new TempDirectory();
            var model = dir.File("tiny.gguf");
            TinyModel.Write(model);
            return new RestartHost(dir, binary, model, await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));
        }

        /// <summary>One ullmd's scheduler, with its own config, driver, ports and events; room for ten models.</summary>
        public Generation Start(IReadOnlyList<string> models, bool stopBackendsOnExit)
        {
            var toml = $"[server]\nstop_backends_on_exit = {(stopBackendsOnExit ? "true" : "false")}\n[backends.llamacpp]\nexecutable = \"{binary}\"\n"
                + string.Concat(models.Select(m => $"[models.{m}]\nbackend = \"llamacpp\"\nsource = \"{model}\"\ncontext = {Context}\n"));
            var events = new EventHub();
            var config = new ConfigHolder(ConfigLoader.Parse(toml, "restart.toml"), events, TimeProvider.System);
            var ports = new PortAllocator();
            var driver = new LlamaCppDriver(Supervisor, ports, BackendControlHttp.Create(TimeSpan.FromSeconds(5)), new LlamaCppDriverOptions { LoadTimeout = TimeSpan.FromMinutes(2) }, TimeProvider.System);
            var estimator = new LlamaCppMemoryEstimator(new LlamaCppSizingSettings());
            var budget = 10 * estimator.EstimateCpuOnly(ModelProfileReader.Read(model, CancellationToken.None), Context, GgmlType.F16).HostTotalBytes;
            var machine = new MachineReading(() => GpuSnapshot.CpuMode(DateTimeOffset.UtcNow, "test: no GPU"), () => budget);
            var scheduler = new Scheduler(
                config, [driver], Supervisor, Store, new LoadPlanner(estimator), machine, events, TimeProvider.System, new SchedulerOptions(), NullLogger<Scheduler>.Instance,
                new GenericFootprints(new FootprintStore(database), machine, TimeProvider.System, NullLogger<GenericFootprints>.Instance));
            return new Generation(scheduler, config, ports, events);
        }

        public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
        {
            await using var connection = await database.ConnectAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        public async ValueTask DisposeAsync()
        {
            await Supervisor.DisposeAsync();
            dir.Dispose();
        }
    }

    private sealed class Generation(Scheduler scheduler, ConfigHolder config, PortAllocator ports, EventHub events) : IAsyncDisposable
    {
        public Scheduler Scheduler { get; } = scheduler;

        public PortAllocator Ports { get; } = ports;

        /// <summary>Starts listening for events of <paramref name="kind"/> now; completes with the first <paramref name="count"/>.</summary>
        public async Task<IReadOnlyList<DaemonEvent>> CollectAsync(string kind, int count, CancellationToken cancellationToken)
        {
            var collected = new List<DaemonEvent>();
            var stream = events.SubscribeAsync([kind], cancellationToken).GetAsyncEnumerator(cancellationToken);
            await using (stream)
            {
                while (collected.Count < count && await stream.MoveNextAsync())
                {
                    collected.Add(stream.Current);
                }
            }

            return collected;
        }

        public async ValueTask DisposeAsync()
        {
            await Scheduler.DisposeAsync();
            config.Dispose();
        }
    }
}

using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
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
/// The scheduler end to end with the real llama.cpp driver, the real ProcessSupervisor and a real llama-server serving
/// the tiny model: on-demand load and a chat completion, a swap under a RAM budget that fits one model, and a killed
/// backend reported and reloaded. The machine is CPU-only with a host RAM budget the test sets.
/// </summary>
public sealed class RealLlamaServerSchedulingTests
{
    private const int Context = 256;

    [Fact(Timeout = 300_000)]
    public async Task Acquire_loads_on_demand_and_the_lease_serves_a_chat_completion()
    {
        await using var fx = await RealFixture.CreateAsync(["a"], budgetInModels: 10);
        var ct = TestContext.Current.CancellationToken;

        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        var answer = await ChatAsync(lease.BaseAddress, lease.UpstreamModel, ct);

        Assert.False(string.IsNullOrEmpty(answer));
        var instance = Assert.Single(fx.Scheduler.Instances());
        Assert.Equal(InstanceState.Ready, instance.State);
        Assert.Equal(1, instance.Leases);
    }

    [Fact(Timeout = 300_000)]
    public async Task Two_models_under_a_budget_for_one_swap_real_processes()
    {
        await using var fx = await RealFixture.CreateAsync(["a", "b"], budgetInModels: 1.5);
        var ct = TestContext.Current.CancellationToken;

        await using (var a = await fx.Scheduler.LeaseAsync("a", ct))
        {
            Assert.False(string.IsNullOrEmpty(await ChatAsync(a.BaseAddress, a.UpstreamModel, ct)));
        }

        var pidA = fx.Scheduler.Instances().Single(i => i.Model == "a").MainPid!.Value;
        await using (var b = await fx.Scheduler.LeaseAsync("b", ct))
        {
            Assert.False(string.IsNullOrEmpty(await ChatAsync(b.BaseAddress, b.UpstreamModel, ct)));
        }

        var instances = fx.Scheduler.Instances();
        Assert.Equal(InstanceState.Stopped, instances.Single(i => i.Model == "a").State);
        Assert.Equal(InstanceState.Ready, instances.Single(i => i.Model == "b").State);
        Assert.False(Directory.Exists($"/proc/{pidA}"), $"llama-server {pidA} of the evicted model still runs");
    }

    [Fact(Timeout = 300_000)]
    public async Task Killed_backend_is_reported_and_the_next_acquire_reloads()
    {
        await using var fx = await RealFixture.CreateAsync(["a"], budgetInModels: 10);
        var ct = TestContext.Current.CancellationToken;
        await (await fx.Scheduler.LeaseAsync("a", ct)).DisposeAsync();
        var first = Assert.Single(fx.Scheduler.Instances());
        var failure = NextEventAsync(fx.Events, "failure", ct);

        Process.GetProcessById(first.MainPid!.Value).Kill();

        Assert.Contains("a: backend exited", (await failure).Message, StringComparison.Ordinal);
        await using var lease = await fx.Scheduler.LeaseAsync("a", ct);
        Assert.False(string.IsNullOrEmpty(await ChatAsync(lease.BaseAddress, lease.UpstreamModel, ct)));
        var second = Assert.Single(fx.Scheduler.Instances());
        Assert.NotEqual(first.Id, second.Id);
        Assert.NotEqual(first.MainPid, second.MainPid);
    }

    [Fact(Timeout = 300_000)]
    public async Task After_an_unload_no_connection_of_ours_to_the_stopped_llama_server_is_left()
    {
        // Connections the gateway pooled (and the driver's readiness and health checks) must be closed by us before
        // the backend is stopped: llama-server takes ~100 ms longer to exit while an idle keep-alive one is open, and
        // one left behind would sit in CLOSE_WAIT once it has exited.
        await using var fx = await RealFixture.CreateAsync(["a"], budgetInModels: 10);
        var ct = TestContext.Current.CancellationToken;
        int port;
        await using (var lease = await fx.Scheduler.LeaseAsync("a", ct))
        {
            port = lease.BaseAddress.Port;
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(lease.BaseAddress, "v1/chat/completions"))
            {
                Content = JsonContent.Create(new { model = lease.UpstreamModel, max_tokens = 2, messages = new[] { new { role = "user", content = "hi" } } }),
            };
            using var response = await lease.Connections.SendAsync(request, ct);
            response.EnsureSuccessStatusCode();
            await response.Content.ReadAsByteArrayAsync(ct);
            Assert.Contains("01", OurTcpStatesTo(port));
        }

        Assert.True(await fx.Scheduler.UnloadedAsync("a", ct));

        Assert.Empty(OurTcpStatesTo(port));
    }

    /// <summary>The states (/proc/net/tcp's hex codes: 01 established, 08 close-wait) of this process's TCP sockets connected to <paramref name="port"/> on loopback.</summary>
    private static List<string> OurTcpStatesTo(int port)
    {
        var ours = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.EnumerateFiles("/proc/self/fd"))
        {
            if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                ours.Add(target["socket:[".Length..^1]);
            }
        }

        // .NET's sockets are dual-mode, so they are listed in tcp6 with 127.0.0.1 mapped into IPv6 (the same hex suffix).
        var remote = $"0100007F:{port:X4}";
        return [.. File.ReadLines("/proc/net/tcp").Skip(1).Concat(File.ReadLines("/proc/net/tcp6").Skip(1))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields[2].EndsWith(remote, StringComparison.Ordinal) && ours.Contains(fields[9]))
            .Select(fields => fields[3])];
    }

    private static async Task<DaemonEvent> NextEventAsync(EventHub hub, string kind, CancellationToken cancellationToken)
    {
        var events = hub.SubscribeAsync([kind], cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (events)
        {
            return await events.MoveNextAsync() ? events.Current : throw new InvalidOperationException("event stream ended");
        }
    }

    /// <summary>One short chat completion straight to the backend; its answer's text.</summary>
    internal static async Task<string> ChatAsync(Uri baseAddress, string model, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var response = await http.PostAsJsonAsync(
            new Uri(baseAddress, "v1/chat/completions"),
            new { model, max_tokens = 4, messages = new[] { new { role = "user", content = "hi" } } },
            cancellationToken);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? string.Empty;
    }

    internal sealed class RealFixture : IAsyncDisposable
    {
        private readonly TempDirectory dir;
        private readonly ConfigHolder config;
        private readonly ProcessSupervisor supervisor;

        private RealFixture(TempDirectory dir, ConfigHolder config, ProcessSupervisor supervisor, Scheduler scheduler, EventHub events)
        {
            this.dir = dir;
            this.config = config;
            this.supervisor = supervisor;
            Scheduler = scheduler;
            Events = events;
        }

        public Scheduler Scheduler { get; }

        public EventHub Events { get; }

        public ProcessSupervisor Supervisor => supervisor;

        public ConfigHolder Config => config;

        /// <summary>
        /// <paramref name="modelToml"/> is added to every model's table, <paramref name="backendToml"/> to [backends.llamacpp];
        /// <paramref name="shape"/> replaces the tiny model's shape.
        /// </summary>
        public static async Task<RealFixture> CreateAsync(
            IReadOnlyList<string> models, double budgetInModels, string modelToml = "", string backendToml = "", RandomModelShape? shape = null, int context = Context)
        {
            var binary = LlamaServerBinary.Find();
            if (binary is null)
            {
                Assert.Skip(LlamaServerBinary.HowToGet);
            }

            var dir = new TempDirectory();
            var model = dir.File("tiny.gguf");
            TinyModel.Write(model, shape ?? RandomModelShape.Tiny);
            var estimator = new LlamaCppMemoryEstimator(new LlamaCppSizingSettings());
            var one = estimator.EstimateCpuOnly(ModelProfileReader.Read(model, CancellationToken.None), Context, GgmlType.F16).HostTotalBytes;
            var budget = (ulong)(one * budgetInModels);
            var toml = $"[backends.llamacpp]\nexecutable = \"{binary}\"\n{backendToml}\n"
                + string.Concat(models.Select(m => $"[models.{m}]\nbackend = \"llamacpp\"\nsource = \"{model}\"\ncontext = {context}\n{modelToml}\n"));
            var events = new EventHub();
            var config = new ConfigHolder(ConfigLoader.Parse(toml, "real-scheduler.toml"), events, TimeProvider.System);
            var supervisor = new ProcessSupervisor(NullLogger<ProcessSupervisor>.Instance);
            var database = await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None);
            var store = new InstanceStore(database, TimeProvider.System);
            var driver = new LlamaCppDriver(supervisor, new PortAllocator(), BackendControlHttp.Create(TimeSpan.FromSeconds(5)), new LlamaCppDriverOptions { LoadTimeout = TimeSpan.FromMinutes(2) }, TimeProvider.System);
            Scheduler? scheduler = null;
            var machine = new MachineReading(
                () => GpuSnapshot.CpuMode(DateTimeOffset.UtcNow, "test: no GPU"),
                () => budget - scheduler!.Instances()
                    .Where(i => i.State is InstanceState.Ready or InstanceState.Draining && i.Plan is not null)
                    .Aggregate(0UL, (sum, i) => sum + i.Plan!.Estimate.HostTotalBytes));
            scheduler = new Scheduler(
                config, [driver], supervisor, store, new LoadPlanner(estimator), machine, events, TimeProvider.System, new SchedulerOptions(), NullLogger<Scheduler>.Instance,
                new GenericFootprints(new FootprintStore(database), machine, TimeProvider.System, NullLogger<GenericFootprints>.Instance));
            return new RealFixture(dir, config, supervisor, scheduler, events);
        }

        public async ValueTask DisposeAsync()
        {
            await Scheduler.DisposeAsync();
            await supervisor.DisposeAsync();
            config.Dispose();
            dir.Dispose();
        }
    }
}

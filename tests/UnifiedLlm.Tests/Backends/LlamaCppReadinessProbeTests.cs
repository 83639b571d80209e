using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// A real llama-server started as the scheduler starts one: its readiness is probed through the gateway's connections,
/// which then serve its first request, and a probe is woken by its output saying it is ready, not only by the poll.
/// </summary>
public sealed class LlamaCppReadinessProbeTests : IAsyncDisposable
{
    private readonly TempDirectory dir = new("ullm-probe");
    private readonly ProcessSupervisor supervisor;

    public LlamaCppReadinessProbeTests() => supervisor = new ProcessSupervisor(new FakeLogger<ProcessSupervisor>(), dir.File("outputs"));

    public async ValueTask DisposeAsync()
    {
        await supervisor.DisposeAsync();
        dir.Dispose();
    }

    [Fact(Timeout = 300_000)]
    public async Task Readiness_is_probed_through_the_given_connections_and_they_serve_the_first_request()
    {
        var binary = LlamaServerBinary.Find();
        if (binary is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var ct = TestContext.Current.CancellationToken;
        var opened = 0;
        using var connections = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, token);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }

                Interlocked.Increment(ref opened);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        var start = TinyModelStart() with { Connections = connections };
        using var http = BackendControlHttp.Create(TimeSpan.FromSeconds(5));
        var driver = new LlamaCppDriver(supervisor, new PortAllocator(), http, new LlamaCppDriverOptions { LoadTimeout = TimeSpan.FromMinutes(2) }, TimeProvider.System);

        var backend = await driver.StartAsync(start, ct);
        try
        {
            Assert.True(Volatile.Read(ref opened) > 0, "no readiness probe went through the given connections");
            using var client = new HttpClient(connections, disposeHandler: false);
            using var models = await client.GetAsync(new Uri(backend.BaseAddress, "v1/models"), ct);
            Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        }
        finally
        {
            await driver.StopAsync(backend, CancellationToken.None);
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task A_probe_is_woken_by_the_output_line_that_says_llama_server_is_ready()
    {
        if (LlamaServerBinary.Find() is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        // A clock that never moves: after the first probe (refused, llama-server has only just been spawned) the poll
        // never comes round again, nor does the load timeout, so only its output can wake the probe that finds it ready.
        var frozen = new FakeTimeProvider();
        var start = TinyModelStart();
        using var http = BackendControlHttp.Create(TimeSpan.FromSeconds(5));
        var driver = new LlamaCppDriver(supervisor, new PortAllocator(), http, new LlamaCppDriverOptions { LoadTimeout = TimeSpan.FromMinutes(2) }, frozen);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(1));

        var backend = await driver.StartAsync(start, limit.Token);
        try
        {
            Assert.True(await driver.CheckHealthAsync(backend, limit.Token));
        }
        finally
        {
            await driver.StopAsync(backend, CancellationToken.None);
        }
    }

    private BackendStart TinyModelStart()
    {
        var modelPath = dir.File("tiny.gguf");
        if (!File.Exists(modelPath))
        {
            TinyModel.Write(modelPath);
        }

        var config = ConfigLoader.Parse($"""
            [backends.llamacpp]
            executable = "{LlamaServerBinary.Find()}"

            [models.tiny]
            backend = "llamacpp"
            source = "{modelPath}"
            context = 256
            """, "probe.toml");
        var model = config.Models["tiny"];
        var estimate = new LlamaCppMemoryEstimate("tiny", 256, GgmlType.F16, 0, 0, [], 64UL << 20, 0, 0);
        return new BackendStart(model, new LoadPlan([], null, 0, 256, estimate, []), config.Backends.For(model), UnitName.ForModel("tiny", "1"));
    }
}

using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Testing;
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
/// A real llama-server started with the gateway's connections given, as the scheduler starts one: its readiness is
/// probed through those connections, which then serve its first request.
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
        var modelPath = dir.File("tiny.gguf");
        TinyModel.Write(modelPath);
        var config = ConfigLoader.Parse($"""
            [backends.llamacpp]
            executable = "{binary}"

            [models.tiny]
            backend = "llamacpp"
            source = "{modelPath}"
            context = 256
            """, "probe.toml");
        var model = config.Models["tiny"];
        var estimate = new LlamaCppMemoryEstimate("tiny", 256, GgmlType.F16, 0, 0, [], 64UL << 20, 0, 0);
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
        var start = new BackendStart(model, new LoadPlan([], null, 0, 256, estimate, []), config.Backends.For(model), UnitName.ForModel("tiny", "1"))
        {
            Connections = connections,
        };
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
}

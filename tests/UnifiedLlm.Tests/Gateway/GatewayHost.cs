using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Ctl;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// The gateway as the daemon wires it (AddGateway, UseRequestIds, MapGateway) on real Kestrel listeners — a unix socket
/// and loopback TCP, tagged like the daemon's — with a real SQLite database and the given config.
/// </summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly TempDirectory dir;
    private bool stopped;

    private GatewayHost(WebApplication app, TempDirectory dir, string socket, Uri tcp)
    {
        this.app = app;
        this.dir = dir;
        Unix = UnixClient(socket);
        Tcp = new HttpClient { BaseAddress = tcp, Timeout = TimeSpan.FromSeconds(120) };
        TcpAddress = tcp;
        SocketPath = socket;
    }

    public HttpClient Unix { get; }

    public HttpClient Tcp { get; }

    public Uri TcpAddress { get; }

    public string SocketPath { get; }

    public IServiceProvider Services => app.Services;

    public ApiKeyStore Keys => app.Services.GetRequiredService<ApiKeyStore>();

    public AuditStore Audit => app.Services.GetRequiredService<AuditStore>();

    public UpstreamHealth Health => app.Services.GetRequiredService<UpstreamHealth>();

    public static async Task<GatewayHost> StartAsync(string toml, StaticModelEndpoints endpoints, TimeProvider? time = null)
    {
        var dir = new TempDirectory("ullm-gw");
        var config = ConfigLoader.Parse($"[server]\ndata_dir = \"{dir.Path}\"\ntcp_listen = \"\"\n" + endpoints.ConfigTables + toml, dir.File("ullm.toml"));
        var database = await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None);
        var socket = dir.File("openai.sock");
        // The same empty builder as ullmd's (DaemonHost): no default configuration sources and no file watching.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        if (Environment.GetEnvironmentVariable("ULLM_TEST_LOG") == "1") { builder.Logging.AddConsole(); }
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = config.Server.MaxRequestBodyBytes;
            kestrel.ListenUnixSocket(socket, o =>
            {
                o.Protocols = HttpProtocols.Http1;
                o.Tag(ListenerNames.OpenAiUnix);
            });
            kestrel.Listen(IPAddress.Loopback, 0, o =>
            {
                o.Protocols = HttpProtocols.Http1;
                o.Tag(ListenerNames.OpenAiTcp);
            });
        });
        var services = builder.Services;
        services.AddSingleton(time ?? TimeProvider.System);
        services.AddSingleton(new DaemonInfo(DateTimeOffset.UtcNow));
        services.AddSingleton(database);
        services.AddSingleton<EventHub>();
        services.AddSingleton(sp => new ConfigHolder(config, sp.GetRequiredService<EventHub>(), TimeProvider.System));
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<AuditStore>();
        // Through a factory, so that the container disposes it (and its connection pools) with the host.
        services.AddSingleton<IModelEndpoints>(_ => endpoints);
        services.AddGateway();
        var app = builder.Build();
        app.UseRequestIds();
        app.MapGateway();
        await app.StartAsync();
        var tcp = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.Single(a => a.StartsWith("http://127.0.0.1", StringComparison.Ordinal));
        return new GatewayHost(app, dir, socket, new Uri(tcp + "/"));
    }

    /// <summary>Stops the host: the audit writer drains its queue into SQLite first.</summary>
    public async Task StopAsync()
    {
        if (!stopped)
        {
            stopped = true;
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await app.StopAsync(stop.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Unix.Dispose();
        Tcp.Dispose();
        await StopAsync();
        await app.DisposeAsync();
        dir.Dispose();
    }

    public static HttpClient UnixClient(string socket) => new(UnixSocketHttp.Handler(socket))
    {
        BaseAddress = new Uri("http://localhost/"),
        Timeout = TimeSpan.FromSeconds(120),
    };
}

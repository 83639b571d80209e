using System.Security.Authentication;
using Grpc.AspNetCore.Server.Model;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting.Systemd;
using Serilog;
using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Registry;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>Builds and runs the daemon: listeners, services, and the systemd integration.</summary>
internal static class DaemonHost
{
    public static async Task<int> RunAsync(UllmConfig config, StartupTimeline timeline, CancellationToken cancellationToken)
    {
        using var logger = DaemonLogging.Create(config.Server);
        Log.Logger = logger;
        timeline.Mark("logging");
        try
        {
            var database = await Database.OpenAsync(config.Server.DatabasePath, cancellationToken);
            timeline.Mark("database");
            UnixSocketFiles.Prepare(config.Server.OpenAiSocket);
            UnixSocketFiles.Prepare(config.Server.AdminSocket);
            var busLogger = new Serilog.Extensions.Logging.SerilogLoggerFactory(logger).CreateLogger<SystemdBus>();
            var startNotifier = new SystemdNotifier();
            var (systemd, why) = await SupervisorSelection.ChooseAsync(
                config.Server, SupervisorSelection.HostBootedWithSystemd, SystemdWait.Default, busLogger,
                waiting => startNotifier.Notify(new ServiceState("STATUS=" + waiting)), cancellationToken);
            timeline.Mark("supervisor");
            var app = Build(config, database, logger, systemd, timeline);
            timeline.Mark("host build");
            logger.Information("ullmd {Version} starting with {Config}; backends run as {Supervisor:l}: {Why:l}",
                DaemonInfo.Version, config.SourcePath, systemd is null ? "plain processes" : "transient systemd units", why);
            await app.RunAsync(cancellationToken);
            return 0;
        }
        catch (StorageException e)
        {
            logger.Fatal("{Message}", e.Message);
            return 1;
        }
        catch (SupervisorUnavailableException e)
        {
            logger.Fatal("Cannot start: {Message}", e.Message);
            return 1;
        }
        catch (IOException e)
        {
            logger.Fatal("Cannot start: {Message}", e.Message);
            return 1;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.Fatal(e, "ullmd stopped on an unexpected error");
            return 1;
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    private static WebApplication Build(UllmConfig config, Database database, Serilog.ILogger logger, SystemdBus? systemd, StartupTimeline timeline)
    {
        // The empty builder: ullmd is configured by its TOML file alone. The slim builder's defaults also read
        // appsettings.json from the working directory and watch that directory recursively for changes — from / (a
        // systemd service's default) that is an inotify watch on every directory of the host and CPU on every file
        // written anywhere, the audit database's included.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [], ApplicationName = "ullmd", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Host.UseSystemd();
        // UseSystemd registers the notifier only under systemd; ullmd reports its status either way, and the notifier
        // itself is a no-op without NOTIFY_SOCKET.
        builder.Services.TryAddSingleton<ISystemdNotifier, SystemdNotifier>();
        builder.Services.AddSerilog(logger, dispose: false);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

        var listeners = new List<ListenerInfo>
        {
            new(ListenerNames.OpenAiUnix, config.Server.OpenAiSocket, "0" + Convert.ToString((int)config.Server.OpenAiSocketMode, 8), ""),
            new(ListenerNames.AdminUnix, config.Server.AdminSocket, "0660", config.Server.AdminGroup),
        };
        var certificate = config.Server.Tls is { } tls && config.Server.TcpListen is not null ? ServerCertificate.Load(tls, logger) : null;
        // A unix socket refuses connect() with EAGAIN once its backlog is full: with Kestrel's 512 a burst of clients
        // failed to connect instead of getting 429 (#21's overload run). The kernel caps it at net.core.somaxconn.
        builder.WebHost.UseSockets(o =>
        {
            o.Backlog = 4096;
            o.UnsafePreferInlineScheduling = config.Server.IoScheduling == IoScheduling.Inline;
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = config.Server.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
            kestrel.ListenUnixSocket(config.Server.OpenAiSocket, o =>
            {
                o.Protocols = HttpProtocols.Http1;
                o.Tag(ListenerNames.OpenAiUnix);
            });
            if (config.Server.TcpListen is { } tcp && ConfigLoader.TryParseListen(tcp, out var endpoint))
            {
                kestrel.Listen(endpoint!, o =>
                {
                    o.Tag(ListenerNames.OpenAiTcp);
                    if (certificate is null)
                    {
                        o.Protocols = HttpProtocols.Http1;
                        return;
                    }

                    // HTTP/1.1 and HTTP/2, chosen by ALPN; the certificate is looked up at each handshake, so a reload or
                    // new files on disk reach new connections without a restart.
                    o.Protocols = HttpProtocols.Http1AndHttp2;
                    o.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        ServerCertificateSelector = (_, _) => certificate.Current,
                        ClientCertificateMode = certificate.RequiresClientCertificate ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.NoCertificate,
                        ClientCertificateValidation = certificate.RequiresClientCertificate ? (client, _, _) => certificate.IsTrustedClient(client) : null,
                        CheckCertificateRevocation = false,
                    });
                });
                // The MODE column of `ullmctl status`: how the TCP listener is protected.
                var mode = certificate is null ? "" : certificate.RequiresClientCertificate ? "tls+client-cert" : "tls";
                listeners.Insert(1, new ListenerInfo(ListenerNames.OpenAiTcp, tcp, mode, ""));
            }

            kestrel.ListenUnixSocket(config.Server.AdminSocket, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                o.Tag(ListenerNames.AdminUnix);
            });
        });

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new DaemonInfo(DateTimeOffset.UtcNow) { Listeners = listeners });
        services.AddSingleton(database);
        services.AddSingleton(timeline);
        if (certificate is not null)
        {
            services.AddSingleton(certificate);
        }

        services.AddSingleton<EventHub>();
        services.AddSingleton(sp => new ConfigHolder(config, sp.GetRequiredService<EventHub>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<AuditStore>();
        services.AddSingleton<SystemdStatus>();
        services.AddHostedService<SocketPermissions>();
        services.AddHostedService<ReadinessNotifier>();
        services.AddHostedService(sp => sp.GetRequiredService<SystemdStatus>());
        services.AddHostedService<ReloadOnHangup>();
        services.AddHostedService<AuditRetention>();
        services.AddHostedService<ApiKeyUseRecorder>();
        services.AddSingleton(new GpuMonitorOptions
        {
            PollInterval = config.Gpu.PollInterval,
            NvmlLibraryCandidates = NvmlLibrarySearch.Candidates(config.Gpu.NvmlLibrary),
        });
        if (systemd is not null)
        {
            // Both lambdas resolve late: the monitor asks the supervisor for its units, the supervisor the monitor for GPUs.
            services.AddSingleton(sp => new SystemdSupervisor(
                systemd,
                new JournalReader(),
                () => sp.GetRequiredService<GpuMonitor>().Current.Devices,
                sp.GetRequiredService<TimeProvider>(),
                BackendOwner.For(config.Server.DataDir, sp.GetRequiredService<InstanceStore>()),
                sp.GetRequiredService<ILogger<SystemdSupervisor>>()));
            services.AddSingleton<IBackendSupervisor>(sp => sp.GetRequiredService<SystemdSupervisor>());
            services.AddSingleton<IUnitPidSource>(sp => new CgroupUnitPidSource(() => sp.GetRequiredService<SystemdSupervisor>().ControlGroups()));
        }
        else
        {
            // Plain processes have no cgroup of their own to match GPU processes against.
            services.AddSingleton<IUnitPidSource>(new CgroupUnitPidSource(() => []));
        }

        services.AddSingleton<GpuMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<GpuMonitor>());
        services.AddSingleton<ModelFileStore>();
        services.AddSingleton<ModelRegistry>();
        services.AddHostedService<StartupScan>();
        services.AddSingleton(new LlamaCppMemoryEstimator(new LlamaCppSizingSettings()));
        services.AddSingleton<LoadPlanPreview>();
        services.AddGateway();
        services.AddScheduler();
        services.AddGrpc(o =>
        {
            // Outermost first: no exception from the authorization check or a handler leaves as UNKNOWN.
            o.Interceptors.Add<AdminErrorInterceptor>();
            o.Interceptors.Add<AdminAuthorizationInterceptor>();
            o.EnableDetailedErrors = false;
        }).AddServiceOptions<AdminService>(o => o.MaxReceiveMessageSize = AdminInput.MaxRequestBytes);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceMethodProvider<AdminService>, AdminMethodProvider>());

        var app = builder.Build();
        if (certificate is not null)
        {
            app.Services.GetRequiredService<ConfigHolder>().OnReplaced((_, _) => certificate.Reload());
        }

        app.UseRequestIds();
        app.UseWhen(context => !ListenerNames.IsAdmin(context), openAi => openAi.UseOpenAiErrorBodies());
        app.Use((context, next) =>
        {
            // Case-insensitive, as routing is: "/ULLM.admin.v1.Admin/Status" must not reach the admin API from an OpenAI listener.
            var isAdminPath = context.Request.Path.StartsWithSegments("/ullm.admin.v1.Admin", StringComparison.OrdinalIgnoreCase);
            if (isAdminPath != ListenerNames.IsAdmin(context))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        app.MapGrpcService<AdminService>();
        app.MapHealth();
        app.MapGateway();
        return app;
    }
}

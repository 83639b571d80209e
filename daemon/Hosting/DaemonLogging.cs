using Serilog;
using Serilog.Core;
using Serilog.Events;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Logging;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// The Serilog pipeline: journald's native protocol under systemd (structured fields such as ULLM_MODEL, ULLM_UNIT and
/// ULLM_REQUEST_ID survive), stderr in a terminal.
/// </summary>
internal static class DaemonLogging
{
    public static Logger Create(ServerConfig server)
    {
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(server.LogLevel)
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            // Off, not Warning: while this logger is enabled at all, ASP.NET Core opens a log scope and starts an Activity
            // for every request, which the upstream HttpClient then extends to the upstream request — a tenth of the
            // proxy's CPU. It logs nothing above Information; unhandled request errors come from Kestrel's logger.
            .MinimumLevel.Override("Microsoft.AspNetCore.Hosting.Diagnostics", LevelAlias.Off)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        var toJournal = JournaldDetection.ShouldLogToJournal(server.LogTarget switch
        {
            LogTarget.Journal => true,
            LogTarget.Console => false,
            _ => null,
        });
        return (toJournal
                ? configuration.WriteTo.Journald()
                : configuration.WriteTo.Console(
                    outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}",
                    formatProvider: System.Globalization.CultureInfo.InvariantCulture,
                    standardErrorFromLevel: LogEventLevel.Verbose))
            .CreateLogger();
    }
}

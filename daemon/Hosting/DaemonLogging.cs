using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>The Serilog pipeline: console in a terminal (and under systemd, where stderr goes to the journal).</summary>
internal static class DaemonLogging
{
    public static Logger Create(LogEventLevel level) =>
        new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.Console(
                outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}",
                formatProvider: System.Globalization.CultureInfo.InvariantCulture,
                standardErrorFromLevel: LogEventLevel.Verbose)
            .CreateLogger();
}

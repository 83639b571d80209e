using Serilog;
using Serilog.Configuration;
using Serilog.Core;
using Serilog.Events;

namespace UnifiedLlm.Daemon.Logging;

internal static class JournaldLoggerConfigurationExtensions
{
    /// <summary>Writes events to journald over its native protocol (see <see cref="JournaldSink"/>).</summary>
    public static LoggerConfiguration Journald(
        this LoggerSinkConfiguration sinkConfiguration,
        JournaldSinkOptions? options = null,
        LogEventLevel restrictedToMinimumLevel = LevelAlias.Minimum,
        LoggingLevelSwitch? levelSwitch = null)
    {
        ArgumentNullException.ThrowIfNull(sinkConfiguration);
        return sinkConfiguration.Sink(new JournaldSink(options ?? new JournaldSinkOptions()), restrictedToMinimumLevel, levelSwitch);
    }
}

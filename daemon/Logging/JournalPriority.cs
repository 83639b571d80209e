using Serilog.Events;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>Serilog levels as syslog priorities (the journal's PRIORITY field, 0 emerg … 7 debug).</summary>
internal static class JournalPriority
{
    public static int FromLevel(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose or LogEventLevel.Debug => 7,
        LogEventLevel.Information => 6,
        LogEventLevel.Warning => 4,
        LogEventLevel.Error => 3,
        LogEventLevel.Fatal => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "not a Serilog level"),
    };
}

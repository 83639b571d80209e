namespace UnifiedLlm.Daemon.Supervision;

internal sealed record BackendLogLine(DateTimeOffset Timestamp, string UnitName, string Message, int Priority);

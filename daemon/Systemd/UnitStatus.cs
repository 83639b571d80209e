using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>A snapshot of a service unit's state, from the Unit and Service interfaces.</summary>
internal sealed record UnitStatus(
    string ActiveState,
    string SubState,
    string Result,
    uint MainPid,
    int ExecMainCode,
    int ExecMainStatus,
    ulong? MemoryCurrentBytes,
    string InvocationId,
    string ControlGroup)
{
    /// <summary>
    /// No invocation: systemd loaded an empty unit for the read because the real one was already collected (reading a
    /// collected unit's properties does that), so nothing here describes a run.
    /// </summary>
    public bool NeverRan => InvocationId.Trim('0').Length == 0;

    /// <summary>TimeoutStopUSec: how long a stop waits after SIGTERM before SIGKILL.</summary>
    public TimeSpan StopTimeout { get; init; }

    /// <summary>MemoryMax=, or null when unlimited.</summary>
    public ulong? MemoryMaxBytes { get; init; }

    /// <summary>The serial of the D-Bus reply this status came in (0 when not read over D-Bus), to order it against signals.</summary>
    public uint ReplySerial { get; init; }

    public static UnitStatus From(IReadOnlyDictionary<string, DBusValue> unit, IReadOnlyDictionary<string, DBusValue> service)
    {
        DBusValue Get(IReadOnlyDictionary<string, DBusValue> properties, string name) =>
            properties.TryGetValue(name, out var value) ? value : throw new DBusProtocolException($"systemd did not report the unit property {name}");
        var memory = Get(service, "MemoryCurrent").AsUInt64();
        var memoryMax = Get(service, "MemoryMax").AsUInt64();
        return new UnitStatus(
            Get(unit, "ActiveState").AsString(),
            Get(unit, "SubState").AsString(),
            Get(service, "Result").AsString(),
            Get(service, "MainPID").AsUInt32(),
            Get(service, "ExecMainCode").AsInt32(),
            Get(service, "ExecMainStatus").AsInt32(),
            memory == ulong.MaxValue ? null : memory,
            Convert.ToHexStringLower(Get(unit, "InvocationID").AsBytes()),
            Get(service, "ControlGroup").AsString())
        {
            StopTimeout = TimeSpan.FromMicroseconds(Get(service, "TimeoutStopUSec").AsUInt64()),
            MemoryMaxBytes = memoryMax == ulong.MaxValue ? null : memoryMax,
        };
    }
}

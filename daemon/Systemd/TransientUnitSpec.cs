using System.Text;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>
/// What a backend unit looks like, turned by <see cref="ToProperties"/> into StartTransientUnit's <c>a(sv)</c> with
/// systemd's property names and signatures. Defaults are the sandbox every backend gets.
/// </summary>
internal sealed record TransientUnitSpec
{
    public required string Description { get; init; }

    /// <summary>Absolute path of the program.</summary>
    public required string ExecPath { get; init; }

    /// <summary>Full argv including argv[0]; passed with <c>no-env-expand</c>, so a <c>$VAR</c> here reaches the program literally.</summary>
    public required IReadOnlyList<string> Arguments { get; init; }

    /// <summary>"exec": the start job succeeds only once the program was executed, so a missing binary fails the start.</summary>
    public string Type { get; init; } = "exec";

    /// <summary>KEY=VALUE entries.</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];

    public string? WorkingDirectory { get; init; }

    public string Slice { get; init; } = "ullm.slice";

    public ulong? MemoryMaxBytes { get; init; }

    public ulong? MemoryHighBytes { get; init; }

    public ulong? CpuWeight { get; init; }

    /// <summary>The only device nodes the unit may open (read-write); DevicePolicy is always "closed".</summary>
    public IReadOnlyList<string> AllowedDevices { get; init; } = [];

    public bool DynamicUser { get; init; } = true;

    public IReadOnlyList<string> StateDirectories { get; init; } = [];

    public IReadOnlyList<string> ReadOnlyPaths { get; init; } = [];

    /// <summary>Paths the unit may write despite ProtectSystem=strict (e.g. Ollama's model store).</summary>
    public IReadOnlyList<string> ReadWritePaths { get; init; } = [];

    public string ProtectSystem { get; init; } = "strict";

    /// <summary>"yes" or "read-only".</summary>
    public string ProtectHome { get; init; } = "yes";

    public bool PrivateTmp { get; init; } = true;

    public bool NoNewPrivileges { get; init; } = true;

    public string KillMode { get; init; } = "mixed";

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>"inactive-or-failed" frees the name as soon as the unit ends; "inactive" keeps a failed unit for inspection.</summary>
    public string CollectMode { get; init; } = "inactive-or-failed";

    public string? SyslogIdentifier { get; init; }

    /// <summary>Journal fields added to every line the unit logs, e.g. ULLM_MODEL → name.</summary>
    public IReadOnlyDictionary<string, string> LogExtraFields { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<DBusValue> ToProperties()
    {
        if (!ExecPath.StartsWith('/'))
        {
            throw new ArgumentException($"ExecPath \"{ExecPath}\" must be absolute");
        }

        if (Arguments.Count == 0)
        {
            throw new ArgumentException("Arguments must contain at least argv[0]");
        }

        if (ProtectHome is not ("yes" or "read-only" or "tmpfs" or "no"))
        {
            throw new ArgumentException($"ProtectHome \"{ProtectHome}\" is not one of yes, read-only, tmpfs, no");
        }

        var properties = new List<DBusValue>
        {
            Property("Description", new DBusString(Description)),
            Property("Type", new DBusString(Type)),
            Property("ExecStartEx", new DBusArray("(sasas)",
            [
                new DBusStruct(new DBusString(ExecPath), DBusArray.OfStrings(Arguments), DBusArray.OfStrings(["no-env-expand"])),
            ])),
            Property("Environment", DBusArray.OfStrings(Environment)),
            Property("Slice", new DBusString(Slice)),
            Property("DevicePolicy", new DBusString("closed")),
            Property("DeviceAllow", new DBusArray("(ss)", AllowedDevices.Select(d => (DBusValue)new DBusStruct(new DBusString(d), new DBusString("rw"))).ToList())),
            Property("DynamicUser", new DBusBoolean(DynamicUser)),
            Property("StateDirectory", DBusArray.OfStrings(StateDirectories)),
            Property("ReadOnlyPaths", DBusArray.OfStrings(ReadOnlyPaths)),
            Property("ReadWritePaths", DBusArray.OfStrings(ReadWritePaths)),
            Property("ProtectSystem", new DBusString(ProtectSystem)),
            Property("ProtectHome", new DBusString(ProtectHome)),
            Property("PrivateTmp", new DBusBoolean(PrivateTmp)),
            Property("NoNewPrivileges", new DBusBoolean(NoNewPrivileges)),
            Property("KillMode", new DBusString(KillMode)),
            Property("TimeoutStopUSec", new DBusUInt64((ulong)(StopTimeout.Ticks / TimeSpan.TicksPerMicrosecond))),
            Property("CollectMode", new DBusString(CollectMode)),
            Property("StandardOutput", new DBusString("journal")),
            Property("StandardError", new DBusString("journal")),
            Property("LogExtraFields", new DBusArray("ay", LogExtraFields.Select(f => (DBusValue)new DBusByteArray(Encoding.UTF8.GetBytes($"{f.Key}={f.Value}"))).ToList())),
        };
        if (WorkingDirectory is not null)
        {
            properties.Add(Property("WorkingDirectory", new DBusString(WorkingDirectory)));
        }

        if (MemoryMaxBytes is { } memoryMax)
        {
            properties.Add(Property("MemoryMax", new DBusUInt64(memoryMax)));
        }

        if (MemoryHighBytes is { } memoryHigh)
        {
            properties.Add(Property("MemoryHigh", new DBusUInt64(memoryHigh)));
        }

        if (CpuWeight is { } cpuWeight)
        {
            properties.Add(Property("CPUWeight", new DBusUInt64(cpuWeight)));
        }

        if (SyslogIdentifier is not null)
        {
            properties.Add(Property("SyslogIdentifier", new DBusString(SyslogIdentifier)));
        }

        return properties;
    }

    private static DBusStruct Property(string name, DBusValue value) => new(new DBusString(name), new DBusVariant(value));
}

using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>
/// systemd's Manager API over a D-Bus connection, either the system bus or systemd's private peer-to-peer socket.
/// Job-producing calls wait for the job's JobRemoved signal.
/// </summary>
internal sealed class SystemdManager
{
    public const string ServiceName = "org.freedesktop.systemd1";
    public const string ManagerPath = "/org/freedesktop/systemd1";
    public const string ManagerInterface = "org.freedesktop.systemd1.Manager";
    public const string UnitInterface = "org.freedesktop.systemd1.Unit";
    public const string ServiceInterface = "org.freedesktop.systemd1.Service";
    private const string PropertiesInterface = "org.freedesktop.DBus.Properties";

    /// <summary>JobRemoved signals buffered per waiting call; more than this many jobs finishing while one call waits drops the oldest.</summary>
    private const int JobSignalCapacity = 4096;

    private static readonly MatchRule JobRemovedRule = new(ServiceName, ManagerPath, Interface: ManagerInterface, Member: "JobRemoved");

    private readonly DBusConnection _connection;

    private SystemdManager(DBusConnection connection)
    {
        _connection = connection;
    }

    public DBusConnection Connection => _connection;

    /// <summary>Calls Manager.Subscribe so systemd emits its signals to this connection (needed again after every reconnect).</summary>
    public static async Task<SystemdManager> CreateAsync(DBusConnection connection, CancellationToken cancellationToken)
    {
        var manager = new SystemdManager(connection);
        await manager.CallManagerAsync("Subscribe", cancellationToken);
        return manager;
    }

    /// <summary>Starts a transient unit with mode "fail" and waits for its start job; returns the job path.</summary>
    public Task<string> StartTransientUnitAsync(string name, TransientUnitSpec spec, CancellationToken cancellationToken) =>
        RunJobAsync(name, "StartTransientUnit", cancellationToken,
            new DBusString(name), new DBusString("fail"), new DBusArray("(sv)", spec.ToProperties()), new DBusArray("(sa(sv))", []));

    /// <summary>Stops a unit (mode "replace") and waits until the stop job is done.</summary>
    public Task<string> StopUnitAsync(string name, CancellationToken cancellationToken) =>
        RunJobAsync(name, "StopUnit", cancellationToken, new DBusString(name), new DBusString("replace"));

    /// <param name="whom">"main", "control" or "all".</param>
    public Task KillUnitAsync(string name, string whom, int signal, CancellationToken cancellationToken) =>
        CallManagerAsync("KillUnit", cancellationToken, new DBusString(name), new DBusString(whom), new DBusInt32(signal));

    public Task ResetFailedUnitAsync(string name, CancellationToken cancellationToken) =>
        CallManagerAsync("ResetFailedUnit", cancellationToken, new DBusString(name));

    /// <summary>The unit's object path, or null when systemd has no such unit loaded (NoSuchUnit).</summary>
    public async Task<string?> GetUnitAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return (await CallManagerAsync("GetUnit", cancellationToken, new DBusString(name))).Argument(0).AsObjectPath();
        }
        catch (DBusErrorException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
        {
            return null;
        }
    }

    public async Task<string> LoadUnitAsync(string name, CancellationToken cancellationToken) =>
        (await CallManagerAsync("LoadUnit", cancellationToken, new DBusString(name))).Argument(0).AsObjectPath();

    public async Task<IReadOnlyList<ListedUnit>> ListUnitsByPatternsAsync(IReadOnlyList<string> states, IReadOnlyList<string> patterns, CancellationToken cancellationToken)
    {
        var reply = await CallManagerAsync("ListUnitsByPatterns", cancellationToken, DBusArray.OfStrings(states), DBusArray.OfStrings(patterns));
        return reply.Argument(0).AsArray().Select(row =>
        {
            var f = row.AsStruct();
            return new ListedUnit(f[0].AsString(), f[1].AsString(), f[2].AsString(), f[3].AsString(), f[4].AsString(), f[5].AsString(),
                f[6].AsObjectPath(), f[7].AsUInt32(), f[8].AsString(), f[9].AsObjectPath());
        }).ToList();
    }

    public async Task<DBusValue> GetPropertyAsync(string unitName, string @interface, string property, CancellationToken cancellationToken)
    {
        var reply = await CallAsync(UnitObjectPath.For(unitName), PropertiesInterface, "Get", cancellationToken, new DBusString(@interface), new DBusString(property));
        return reply.Argument(0).AsVariant();
    }

    public async Task<IReadOnlyDictionary<string, DBusValue>> GetAllPropertiesAsync(string unitName, string @interface, CancellationToken cancellationToken) =>
        (await GetAllAsync(unitName, @interface, cancellationToken)).Properties;

    /// <summary>
    /// ActiveState, SubState, Result, MainPID, exit code/status, memory, invocation id and cgroup of a service unit, with
    /// the serial of the reply that carried ActiveState: systemd numbers its replies and signals in one sequence, so a
    /// signal with a lower serial is older than this status and one with a higher serial newer.
    /// </summary>
    public async Task<UnitStatus> GetUnitStatusAsync(string unitName, CancellationToken cancellationToken)
    {
        var (unit, serial) = await GetAllAsync(unitName, UnitInterface, cancellationToken);
        var (service, _) = await GetAllAsync(unitName, ServiceInterface, cancellationToken);
        return UnitStatus.From(unit, service) with { ReplySerial = serial };
    }

    private async Task<(IReadOnlyDictionary<string, DBusValue> Properties, uint Serial)> GetAllAsync(string unitName, string @interface, CancellationToken cancellationToken)
    {
        var reply = await CallAsync(UnitObjectPath.For(unitName), PropertiesInterface, "GetAll", cancellationToken, new DBusString(@interface));
        return (reply.Argument(0).AsStringDictionary().ToDictionary(p => p.Key, p => p.Value.AsVariant()), reply.Serial);
    }

    /// <summary>The unit's LogExtraFields as KEY → VALUE (entries without '=' are ignored).</summary>
    public async Task<IReadOnlyDictionary<string, string>> GetLogExtraFieldsAsync(string unitName, CancellationToken cancellationToken)
    {
        var fields = await GetPropertyAsync(unitName, ServiceInterface, "LogExtraFields", cancellationToken);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in fields.AsArray())
        {
            var text = System.Text.Encoding.UTF8.GetString(field.AsBytes());
            var equals = text.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                result[text[..equals]] = text[(equals + 1)..];
            }
        }

        return result;
    }

    /// <summary>Subscribes to the unit's PropertiesChanged signals; create it before acting on the unit.</summary>
    public async Task<UnitWatch> WatchUnitAsync(string unitName, int capacity, CancellationToken cancellationToken) =>
        new(await _connection.SubscribeAsync(
            new MatchRule(ServiceName, UnitObjectPath.For(unitName), Interface: PropertiesInterface, Member: "PropertiesChanged"),
            capacity,
            cancellationToken));

    /// <summary>
    /// Subscribes to JobRemoved BEFORE the call, so a job that finishes before the reply arrives is still seen: its
    /// signal waits in the subscription's buffer until the job path from the reply is known.
    /// </summary>
    private async Task<string> RunJobAsync(string unitName, string member, CancellationToken cancellationToken, params IReadOnlyList<DBusValue> arguments)
    {
        await using var jobs = await _connection.SubscribeAsync(JobRemovedRule, JobSignalCapacity, cancellationToken);
        var job = (await CallManagerAsync(member, cancellationToken, arguments)).Argument(0).AsObjectPath();
        await foreach (var signal in jobs.Signals.ReadAllAsync(cancellationToken))
        {
            if (signal.Body is not [DBusUInt32, DBusObjectPath path, DBusString, DBusString result] || path.Value != job)
            {
                continue;
            }

            if (result.Value is "done" or "skipped")
            {
                return job;
            }

            throw new SystemdJobFailedException(unitName, result.Value, await TryReadResultAsync(unitName, cancellationToken));
        }

        throw new DBusDisconnectedException($"signal stream ended before job {job} for {unitName} finished");
    }

    /// <summary>
    /// The failed unit's Result, or null once systemd has already garbage-collected it (CollectMode): reading
    /// properties of a collected unit would load a fresh, never-run unit and report its "success".
    /// </summary>
    private async Task<string?> TryReadResultAsync(string unitName, CancellationToken cancellationToken)
    {
        try
        {
            if (await GetUnitAsync(unitName, cancellationToken) is null)
            {
                return null;
            }

            return (await GetPropertyAsync(unitName, ServiceInterface, "Result", cancellationToken)).AsString();
        }
        catch (DBusErrorException)
        {
            return null;
        }
    }

    private Task<DBusMessage> CallManagerAsync(string member, CancellationToken cancellationToken, params IReadOnlyList<DBusValue> arguments) =>
        CallAsync(ManagerPath, ManagerInterface, member, cancellationToken, arguments);

    private Task<DBusMessage> CallAsync(string path, string @interface, string member, CancellationToken cancellationToken, params IReadOnlyList<DBusValue> arguments)
    {
        // On systemd's private socket there is no bus, so no destination; on a bus it names systemd.
        var destination = _connection.Mode == DBusConnectionMode.Bus ? ServiceName : null;
        return _connection.CallAsync(DBusMessage.MethodCall(destination, path, @interface, member, arguments), cancellationToken);
    }
}

using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>One entry of a D-Bus address string, e.g. <c>unix:path=/run/dbus/system_bus_socket</c>.</summary>
internal sealed record DBusAddress(string Transport, IReadOnlyDictionary<string, string> Properties)
{
    public const string DefaultSystemBus = "unix:path=/run/dbus/system_bus_socket";
    public const string SystemdPrivate = "unix:path=/run/systemd/private";

    /// <summary>The system bus address: <c>$DBUS_SYSTEM_BUS_ADDRESS</c> when set, else the standard socket.</summary>
    public static string SystemBus =>
        Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultSystemBus;

    /// <summary>Server GUID the address pins, if any (the server's "OK guid" must then match).</summary>
    public string? Guid => Properties.GetValueOrDefault("guid");

    /// <summary>Parses <c>transport:key=value,key=value;transport:…</c>, undoing %XX escapes; the order is kept (addresses are tried in it).</summary>
    public static IReadOnlyList<DBusAddress> ParseList(string addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var result = new List<DBusAddress>();
        foreach (var entry in addresses.Split(';'))
        {
            if (entry.Length == 0)
            {
                continue;
            }

            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"D-Bus address \"{entry}\" has no \"transport:\" prefix");
            }

            var properties = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in entry[(colon + 1)..].Split(','))
            {
                if (pair.Length == 0)
                {
                    continue;
                }

                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    throw new FormatException($"D-Bus address \"{entry}\": \"{pair}\" is not key=value");
                }

                var key = pair[..equals];
                if (!properties.TryAdd(key, Unescape(pair[(equals + 1)..], entry)))
                {
                    throw new FormatException($"D-Bus address \"{entry}\": key \"{key}\" appears twice");
                }
            }

            result.Add(new DBusAddress(entry[..colon], properties));
        }

        return result.Count > 0 ? result : throw new FormatException("empty D-Bus address");
    }

    /// <summary>The socket endpoint for a <c>unix:</c> address with <c>path=</c> or <c>abstract=</c>.</summary>
    public UnixDomainSocketEndPoint ToEndPoint()
    {
        if (Transport != "unix")
        {
            throw new NotSupportedException($"D-Bus transport \"{Transport}\" is not supported (only unix)");
        }

        var hasPath = Properties.TryGetValue("path", out var path);
        var hasAbstract = Properties.TryGetValue("abstract", out var name);
        return (hasPath, hasAbstract) switch
        {
            (true, false) => new UnixDomainSocketEndPoint(path!),
            (false, true) => new UnixDomainSocketEndPoint("\0" + name),
            (true, true) => throw new NotSupportedException("unix D-Bus address has both path= and abstract="),
            _ => throw new NotSupportedException("unix D-Bus address needs path= or abstract= to connect"),
        };
    }

    public override string ToString() =>
        Transport + ":" + string.Join(",", Properties.Select(p => p.Key + "=" + p.Value));

    private static string Unescape(string value, string entry)
    {
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        var bytes = new List<byte>();
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] != '%')
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(value[i].ToString()));
                continue;
            }

            if (i + 2 >= value.Length || !byte.TryParse(value.AsSpan(i + 1, 2), NumberStyles.HexNumber, null, out var b))
            {
                throw new FormatException($"D-Bus address \"{entry}\": bad %-escape at character {i} of \"{value}\"");
            }

            bytes.Add(b);
            i += 2;
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

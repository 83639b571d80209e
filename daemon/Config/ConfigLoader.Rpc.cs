using System.Globalization;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Config;

internal static partial class ConfigLoader
{
    /// <summary>[rpc_worker]: this host serves its devices to a head through ggml-rpc-server.</summary>
    private static RpcWorkerRoleConfig? BindRpcWorkerRole(TomlSection? s)
    {
        if (s is null)
        {
            return null;
        }

        var listenText = s.RequiredString("listen");
        System.Net.IPEndPoint? listen = null;
        if (listenText is not null && !TryParseListen(listenText, out listen))
        {
            s.Error("listen", $"'{listenText}' is not IP:PORT with an IP address of this host and a port in 1..65535, e.g. \"10.0.0.5:50052\"");
        }
        else if (listen is not null && listen.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            s.Error("listen", $"'{listenText}': ggml-rpc-server listens on IPv4 addresses only");
        }

        var devices = s.StringList("devices");
        foreach (var device in devices.Where(d => d.Length == 0 || d.Contains(',', StringComparison.Ordinal)))
        {
            s.Error("devices", $"'{device}' is not a device name as ggml-rpc-server --device takes it (e.g. \"CUDA0\"; no commas)");
        }

        var executable = s.String("executable", RpcWorkerRoleConfig.DefaultExecutable);
        if (executable.Length == 0)
        {
            s.Error("executable", "must not be empty");
        }
        else if (executable.Contains('/', StringComparison.Ordinal))
        {
            RequireAbsolute(s, "executable", executable);
        }

        var cache = s.Bool("cache", false);
        var threads = s.Has("threads") ? (int?)s.Integer("threads", 1, 1, 1024) : null;
        s.RejectUnknownKeys();
        return new RpcWorkerRoleConfig(listen?.Address.ToString() ?? "127.0.0.1", listen?.Port ?? 1, devices, executable, cache, threads);
    }

    /// <summary>[rpc_workers.NAME]: workers this head may place a model's layers on.</summary>
    private static Dictionary<string, RpcWorkerConfig> BindRpcWorkers(TomlSection? workersSection)
    {
        var workers = new Dictionary<string, RpcWorkerConfig>(StringComparer.Ordinal);
        if (workersSection is null)
        {
            return workers;
        }

        var addresses = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, s) in workersSection.ChildTables())
        {
            if (!IsSafeName(name))
            {
                s.ErrorAtTable(NameRule);
            }

            var address = s.RequiredString("address");
            var (host, port) = (string.Empty, 0);
            if (address is not null && !TryParseHostPort(address, out host, out port))
            {
                s.Error("address", $"'{address}' is not HOST:PORT of a worker's ggml-rpc-server (a host name or IP address, a port in 1..65535), e.g. \"gpu2.lan:50052\"");
            }
            else if (address is not null && !addresses.TryAdd(address, name))
            {
                s.Error("address", $"'{address}' is already rpc_workers.{addresses[address]}'s address");
            }

            var poll = TimeSpan.FromSeconds(s.Number("poll_interval_seconds", RpcWorkerConfig.DefaultPollSeconds, 0.2, 3600));
            var limit = s.Has("memory_limit_mib") ? (ulong?)s.Integer("memory_limit_mib", 0, 1, 1L << 30) * ByteFormat.MiB : null;
            s.RejectUnknownKeys();
            workers[name] = new RpcWorkerConfig(name, host, port, poll, limit);
        }

        return workers;
    }

    /// <summary>[rpc_head]: how this head counts its own RAM in a split.</summary>
    private static RpcHeadConfig BindRpcHead(TomlSection? s)
    {
        if (s is null)
        {
            return RpcHeadConfig.Default;
        }

        var host = s.Has("host_memory_mib") ? (ulong?)s.Integer("host_memory_mib", 0, 1, 1L << 30) * ByteFormat.MiB : null;
        s.RejectUnknownKeys();
        return new RpcHeadConfig(host);
    }

    private static bool TryParseHostPort(string text, out string host, out int port)
    {
        port = 0;
        var colon = text.LastIndexOf(':');
        host = colon > 0 ? text[..colon] : string.Empty;
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        return host.Length > 0
            && (System.Net.IPAddress.TryParse(host, out _) || Uri.CheckHostName(host) == UriHostNameType.Dns)
            && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port is >= 1 and <= 65535;
    }
}

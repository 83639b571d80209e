using System.Globalization;
using System.Net;
using System.Net.Sockets;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Doctor;

/// <summary>
/// What a config file does not say: what ullmd bound, its supervisor, its GPUs, its keys. Without a running ullmd
/// (<see cref="OfflineFacts"/>) <paramref name="Bound"/> is null, the supervisor and GPUs are what ullmd would find at
/// start, and <paramref name="DatabaseFailure"/> or <paramref name="SupervisorFailure"/> say why it would not start.
/// </summary>
internal sealed record DaemonFacts(
    IReadOnlyList<ListenerInfo>? Bound,
    string Supervisor,
    string? CpuModeReason,
    int Gpus,
    IReadOnlyList<ApiKeyRecord> ActiveKeys,
    string? DatabaseFailure = null,
    string? SupervisorFailure = null);

/// <summary>
/// The host and config checks of <c>ullmctl doctor</c>, run inside ullmd: it reads the config with its own loader, sees
/// the files as root does, knows what it bound, and judges backend paths with the supervisor's own
/// <see cref="BackendUnitSpec.CheckModels"/>.
/// </summary>
internal static class HostAudit
{
    /// <summary>Below this much free space on data_dir's file system (the database, audit log, backend output) is a warning.</summary>
    public const long LowSpaceBytes = 1L << 30;

    private const UnixFileMode AdminSocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
    private const UnixFileMode OtherAny = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static async Task<List<Finding>> RunAsync(UllmConfig config, DaemonFacts facts, CancellationToken cancellationToken)
    {
        var findings = new List<Finding>();
        Sockets(config.Server, findings);
        DataDirectory(config.Server, facts, findings);
        Secrets(config, findings);
        Anonymous(config, findings);
        Keys(config, facts, findings);
        Supervisor(config, facts, findings);
        Gpus(config, facts, findings);
        Sandbox(config, facts, findings);
        await ListenersAsync(config.Server, facts, findings, cancellationToken);
        return findings;
    }

    private static void Sockets(ServerConfig server, List<Finding> findings)
    {
        if (Stat(server.OpenAiSocket) is { } openAi)
        {
            findings.Add(openAi.Mode == server.OpenAiSocketMode
                ? new(Severity.Ok, "socket.openai", server.OpenAiSocket, $"mode {Octal(openAi.Mode)} as configured")
                : new(Severity.Warning, "socket.openai", server.OpenAiSocket, $"mode {Octal(openAi.Mode)}, but [server] openai_socket_mode is {Octal(server.OpenAiSocketMode)}",
                    "restart ullmd (it sets the mode when it binds), or correct openai_socket_mode"));
        }

        if (Stat(server.AdminSocket) is not { } admin)
        {
            return;
        }

        var gid = Native.GroupId(server.AdminGroup);
        if ((admin.Mode & OtherAny) != 0)
        {
            findings.Add(new(Severity.Error, "socket.admin", server.AdminSocket, $"mode {Octal(admin.Mode)} lets every local user administer ullmd",
                $"restart ullmd (it sets 0660 root:{server.AdminGroup}), or chmod 0660 {server.AdminSocket}"));
        }
        else if (admin.Mode != AdminSocketMode)
        {
            findings.Add(new(Severity.Warning, "socket.admin", server.AdminSocket, $"mode {Octal(admin.Mode)}, expected 0660", "restart ullmd (it sets 0660 when it binds)"));
        }
        else if (gid is null)
        {
            findings.Add(new(Severity.Warning, "socket.admin", server.AdminSocket, $"the admin group '{server.AdminGroup}' does not exist, so only root can use ullmctl",
                $"groupadd --system {server.AdminGroup} and restart ullmd, or set [server] admin_group to an existing group"));
        }
        else if (admin.Group != gid)
        {
            findings.Add(new(Severity.Warning, "socket.admin", server.AdminSocket, $"group id {admin.Group}, but admin_group '{server.AdminGroup}' is {gid}",
                "restart ullmd (it sets the group when it binds)"));
        }
        else
        {
            findings.Add(new(Severity.Ok, "socket.admin", server.AdminSocket, $"mode 0660, group {server.AdminGroup}"));
        }
    }

    private static void DataDirectory(ServerConfig server, DaemonFacts facts, List<Finding> findings)
    {
        var dir = server.DataDir;
        if (Stat(dir) is not { } stat)
        {
            findings.Add(new(Severity.Error, "data_dir", dir, "does not exist", "start ullmd once (it creates it), or create it: install -d -m 0755 -o root " + dir));
            return;
        }

        findings.Add(stat.Owner != 0
            ? new(Severity.Error, "data_dir.owner", dir, $"owned by uid {stat.Owner}, not root: that user can change the database (API keys, audit log)", $"chown root:root {dir}")
            : (stat.Mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0
                ? new(Severity.Error, "data_dir.mode", dir, $"mode {Octal(stat.Mode)} lets others than root write into it", $"chmod go-w {dir}")
                : new(Severity.Ok, "data_dir.mode", dir, $"owned by root, mode {Octal(stat.Mode)}"));

        if (Stat(server.DatabasePath) is { } database && (database.Mode & UnixFileMode.OtherRead) != 0)
        {
            findings.Add(new(Severity.Warning, "data_dir.database", server.DatabasePath, $"mode {Octal(database.Mode)}: every local user can read the audit log and key names",
                $"chmod o-r {server.DatabasePath} (the packaged unit's UMask=0027 creates it 0640)"));
        }

        if (facts.DatabaseFailure is { } failure)
        {
            findings.Add(new(Severity.Error, "data_dir.database", server.DatabasePath, $"ullmd cannot start: {failure}", "see the message; ullmd opens the database before anything else"));
        }

        var free = new DriveInfo(dir).AvailableFreeSpace;
        findings.Add(free < LowSpaceBytes
            ? new(Severity.Warning, "data_dir.space", dir, $"{Gib(free)} free, under {Gib(LowSpaceBytes)}: the database, audit log and backend output may fill it",
                "free space on its file system, lower [audit] retention_days, or move data_dir")
            : new(Severity.Ok, "data_dir.space", dir, $"{Gib(free)} free"));
    }

    private static void Secrets(UllmConfig config, List<Finding> findings)
    {
        var inline = config.Providers.Values.Where(p => p.ApiKey.Kind == ApiKeySourceKind.Inline).Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
        foreach (var name in inline)
        {
            findings.Add(new(Severity.Warning, "secrets.inline", $"providers.{name}", "the API key is written in the config file (allow_inline_api_key = true)",
                "move it to a file readable only by root (api_key_file), an environment variable (api_key_env) or a systemd credential (api_key_credential)"));
        }

        if (Stat(config.SourcePath) is { } file)
        {
            if ((file.Mode & UnixFileMode.OtherRead) != 0 && inline.Count > 0)
            {
                findings.Add(new(Severity.Error, "secrets.config_file", config.SourcePath, $"mode {Octal(file.Mode)}: every local user can read the inline API key(s) of {string.Join(", ", inline)}",
                    $"chmod o-r {config.SourcePath}, and move the keys out of it"));
            }
            else if ((file.Mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0 || file.Owner != 0)
            {
                findings.Add(new(Severity.Error, "secrets.config_file", config.SourcePath, $"owner uid {file.Owner}, mode {Octal(file.Mode)}: others than root can change the config ullmd runs",
                    $"chown root {config.SourcePath}; chmod go-w {config.SourcePath}"));
            }
            else
            {
                findings.Add(new(Severity.Ok, "secrets.config_file", config.SourcePath, $"owned by root, mode {Octal(file.Mode)}"));
            }
        }

        foreach (var provider in config.Providers.Values.Where(p => p.ApiKey.Kind == ApiKeySourceKind.File).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            var path = provider.ApiKey.Value;
            var subject = $"providers.{provider.Name}";
            findings.Add(Stat(path) switch
            {
                null => new(Severity.Warning, "secrets.key_file", subject, $"api_key_file {path} does not exist: the provider has no key", $"write the key to {path} (mode 0600)"),
                { Mode: var mode } when (mode & UnixFileMode.OtherRead) != 0 => new(Severity.Error, "secrets.key_file", subject,
                    $"api_key_file {path} has mode {Octal(mode)}: every local user can read the key", $"chmod 0600 {path}"),
                { Mode: var mode } => new(Severity.Ok, "secrets.key_file", subject, $"api_key_file {path}, mode {Octal(mode)}"),
            });
        }
    }

    private static void Anonymous(UllmConfig config, List<Finding> findings)
    {
        var socket = config.Server.OpenAiSocket;
        if (!config.Security.AllowAnonymousUnix)
        {
            findings.Add(new(Severity.Ok, "security.anonymous", socket, "callers on the unix socket need an API key (allow_anonymous_unix = false)"));
        }
        else if (config.Providers.Count > 0 && config.Security.AnonymousProviders)
        {
            var names = string.Join(", ", config.Providers.Keys.OrderBy(n => n, StringComparer.Ordinal));
            findings.Add(new(Severity.Warning, "security.anonymous", socket,
                $"callers without a key on the unix socket (mode {Octal(config.Server.OpenAiSocketMode)}) can use the cloud providers {names}, on their keys and at their cost (anonymous_providers = true)",
                "set [security] anonymous_providers = false (the default) or allow_anonymous_unix = false and give clients keys (ullmctl keys create), or narrow openai_socket_mode to a group (0660)"));
        }
        else
        {
            var reach = config.Providers.Count > 0 ? "the local models only; the cloud providers need a key (anonymous_providers = false)" : "the local models (no providers are configured)";
            findings.Add(new(Severity.Info, "security.anonymous", socket, $"callers without a key on the unix socket can use {reach}"));
        }
    }

    private static void Keys(UllmConfig config, DaemonFacts facts, List<Finding> findings)
    {
        if (config.Server.TcpListen is not { } tcp || !ConfigLoader.TryParseListen(tcp, out var endpoint) || IPAddress.IsLoopback(endpoint!.Address))
        {
            return;
        }

        if (config.Server.Tls is null)
        {
            findings.Add(new(Severity.Warning, "listener.tls", tcp,
                $"{tcp} is reachable from the network without TLS (allow_plaintext = true): API keys and prompts cross the network in clear text",
                "set [server] tls_certificate and tls_key (or their _credential forms) and remove allow_plaintext"));
        }

        // The loader refuses require_key_on_tcp = false on a non-loopback listener, so only the keys remain to judge.
        var security = config.Security;
        var fallback = security.DefaultRequestsPerMinute == 0 && security.DefaultTokensPerMinute == 0
            ? "no limit at all (default_requests_per_minute and default_tokens_per_minute are 0)"
            : $"only the defaults ({security.DefaultRequestsPerMinute} requests, {security.DefaultTokensPerMinute} tokens per minute; 0 = none)";
        var open = facts.ActiveKeys.Where(k => k.RequestsPerMinute == 0 && k.TokensPerMinute == 0 && k.Models.Count == 0).OrderBy(k => k.Name, StringComparer.Ordinal).ToList();
        foreach (var key in open)
        {
            findings.Add(new(Severity.Warning, "keys.limits", $"key {key.Name} ({key.Prefix}…)",
                $"no rate limit and no model list of its own while {tcp} is reachable from the network: it has {fallback} and every model and provider",
                $"ullmctl keys revoke {key.Name}, then ullmctl keys create --name {key.Name} --models M --rpm N --tpm N"));
        }

        if (open.Count == 0)
        {
            findings.Add(new(Severity.Ok, "keys.limits", tcp, $"each of the {facts.ActiveKeys.Count} active key(s) has a limit or a model list"));
        }
    }

    private static void Supervisor(UllmConfig config, DaemonFacts facts, List<Finding> findings)
    {
        const string Check = "supervisor";
        if (facts.SupervisorFailure is { } failure)
        {
            findings.Add(new(Severity.Error, Check, "systemd", $"ullmd cannot start: {failure}", "start systemd's bus or correct systemd_address, or set [server] supervisor = \"process\" (backends then run without a sandbox)"));
            return;
        }

        var wanted = config.Server.Supervisor;
        findings.Add((wanted, facts.Supervisor) switch
        {
            (SupervisorKind.Process, _) => new(Severity.Info, Check, "process", "backends run as plain child processes of ullmd, without a sandbox ([server] supervisor = \"process\")"),
            (_, "systemd") => new(Severity.Ok, Check, "systemd", "systemd is reachable: backends run as sandboxed transient units"),
            (SupervisorKind.Systemd, _) => new(Severity.Warning, Check, "systemd", $"[server] supervisor = \"systemd\", but ullmd runs the {facts.Supervisor} supervisor",
                "restart ullmd to apply the supervisor setting"),
            _ => new(Severity.Info, Check, "auto", $"systemd is not running on this host (no /run/systemd/system), so ullmd runs the {facts.Supervisor} supervisor: backends are not sandboxed"),
        });
    }

    private static void Gpus(UllmConfig config, DaemonFacts facts, List<Finding> findings)
    {
        if (facts.CpuModeReason is not { Length: > 0 } reason)
        {
            findings.Add(new(Severity.Ok, "gpu.nvml", "NVML", $"{facts.Gpus} GPU(s) seen"));
            return;
        }

        // A driver's device nodes without a usable NVML is a misconfiguration; no nodes is a host without NVIDIA GPUs.
        var searched = string.Join(", ", NvmlLibrarySearch.Candidates(config.Gpu.NvmlLibrary));
        findings.Add(File.Exists("/dev/nvidiactl")
            ? new(Severity.Warning, "gpu.nvml", "NVML", $"/dev/nvidiactl exists, but ullmd runs in CPU mode: {reason} (searched {searched})",
                "install the NVIDIA driver's libnvidia-ml.so.1 matching the kernel module, or set [gpu] nvml_library")
            : new(Severity.Info, "gpu.nvml", "NVML", $"CPU mode, no NVIDIA device on this host: {reason} (searched {searched})"));
    }

    private static void Sandbox(UllmConfig config, DaemonFacts facts, List<Finding> findings)
    {
        var enforced = facts.Supervisor == "systemd";
        var problems = BackendUnitSpec.CheckModels(config, Environment.GetEnvironmentVariable("PATH")).ToList();
        foreach (var problem in problems)
        {
            var colon = problem.IndexOf(": ", StringComparison.Ordinal);
            findings.Add(enforced
                ? new(Severity.Warning, "sandbox.paths", problem[..colon], problem[(colon + 2)..], "see the message; the load fails under the systemd supervisor until it is fixed")
                : new(Severity.Info, "sandbox.paths", problem[..colon], $"under the systemd supervisor: {problem[(colon + 2)..]}",
                    "nothing now (the process supervisor runs backends as root); fix it before running ullmd under systemd"));
        }

        if (problems.Count == 0 && config.Models.Count > 0)
        {
            findings.Add(new(Severity.Ok, "sandbox.paths", "models", "every backend executable and model file is visible and readable inside a backend unit's sandbox"));
        }
    }

    private static async Task ListenersAsync(ServerConfig server, DaemonFacts facts, List<Finding> findings, CancellationToken cancellationToken)
    {
        List<(string Name, string Address, EndPoint? EndPoint)> wanted =
        [
            (ListenerNames.OpenAiUnix, server.OpenAiSocket, new UnixDomainSocketEndPoint(server.OpenAiSocket)),
            (ListenerNames.AdminUnix, server.AdminSocket, new UnixDomainSocketEndPoint(server.AdminSocket)),
        ];
        if (server.TcpListen is { } tcp)
        {
            wanted.Insert(1, (ListenerNames.OpenAiTcp, tcp, ConfigLoader.TryParseListen(tcp, out var endpoint) ? Reachable(endpoint!) : null));
        }

        foreach (var (name, address, target) in wanted)
        {
            var check = "listener." + name;
            if (facts.Bound is null)
            {
                findings.Add(await UnboundAsync(check, address, target, cancellationToken));
                continue;
            }

            if (!facts.Bound.Any(b => b.Name == name && b.Address == address))
            {
                var bound = facts.Bound.FirstOrDefault(b => b.Name == name)?.Address ?? "nothing";
                findings.Add(new(Severity.Warning, check, address, $"the config asks for {address}, but ullmd bound {bound} when it started", "restart ullmd to bind the configured listeners"));
                continue;
            }

            var refused = target is null ? "not an address" : await ConnectAsync(target, cancellationToken);
            findings.Add(refused is null
                ? new(Severity.Ok, check, address, "bound, and accepts connections")
                : new(Severity.Error, check, address, $"bound at start, but a connection fails now: {refused}",
                    "something removed or took over the socket or port since ullmd started: restart ullmd"));
        }
    }

    /// <summary>A listener the config asks for while ullmd is not running: free is as expected, taken means ullmd could not bind it.</summary>
    private static async Task<Finding> UnboundAsync(string check, string address, EndPoint? target, CancellationToken cancellationToken)
    {
        var refused = target is null ? "not an address" : await ConnectAsync(target, cancellationToken);
        return refused is null
            ? new(Severity.Warning, check, address, "ullmd not running, but something accepts connections here: unless it is an ullmd this doctor was not asked about, ullmd cannot bind it",
                "find the program that holds it (ss -lxp for a socket, ss -ltnp for a port) and stop it, or change the address in the config")
            : new(Severity.Info, check, address, $"ullmd not running: not bound ({refused})", "start ullmd (systemctl start unified-llm); if it does not start, journalctl -u unified-llm says why");
    }

    /// <summary>A wildcard listen address is reached on the loopback address of its family.</summary>
    private static IPEndPoint Reachable(IPEndPoint endpoint) =>
        endpoint.Address.Equals(IPAddress.Any) ? new IPEndPoint(IPAddress.Loopback, endpoint.Port)
        : endpoint.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.IPv6Loopback, endpoint.Port)
        : endpoint;

    private static async Task<string?> ConnectAsync(EndPoint target, CancellationToken cancellationToken)
    {
        using var socket = target is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(target, timeout.Token);
            return null;
        }
        catch (SocketException e)
        {
            return e.Message;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return "no answer within 2 seconds";
        }
    }

    private static (uint Owner, uint Group, UnixFileMode Mode)? Stat(string path)
    {
        try
        {
            return Native.Ownership(path);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8).PadLeft(3, '0');

    private static string Gib(long bytes) => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB";
}

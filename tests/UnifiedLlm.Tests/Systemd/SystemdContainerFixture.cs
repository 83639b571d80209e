using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>
/// Boots the host's real systemd as PID 1 of fresh namespaces with tests/systemd-container/boot.sh (own state dir and
/// cgroup name, so several can run at once) and always stops it with stop.sh. Booting needs root and util-linux's
/// unshare/nsenter; when it cannot boot, every test of the class fails with the reason — these are never skipped.
/// </summary>
public sealed class SystemdContainerFixture : IAsyncLifetime
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("ullm-systemd-test-");
    private readonly string _cgroupName = "ullm-test-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// A host directory bound writable into the container at the same path, so a test and a unit can exchange files
    /// by one name. Not under /tmp, /var/tmp or /run: the container has its own of those, and units a private /tmp.
    /// </summary>
    public string SharedDirectory { get; } = Path.Combine("/var/lib/ullm-test", Guid.NewGuid().ToString("N")[..12]);

    public int Pid { get; private set; }

    /// <summary>The container's system bus, reached from the host through /proc/PID/root.</summary>
    public string BusAddress => $"unix:path=/proc/{Pid}/root/run/dbus/system_bus_socket";

    /// <summary>systemd's private socket; systemd only accepts clients inside its PID namespace.</summary>
    public string PrivateAddress => $"unix:path=/proc/{Pid}/root/run/systemd/private";

    private string StateDirectory => Path.Combine(_directory.FullName, "state");

    /// <summary>The container's journal (journald keeps it in memory under /run: the host's /var is read-only inside).</summary>
    public string JournalDirectory => $"/proc/{Pid}/root/run/log/journal";

    private Dictionary<string, string> ScriptEnvironment => new()
    {
        ["CONTAINER_STATE"] = StateDirectory,
        ["CONTAINER_CGNAME"] = _cgroupName,
        ["CONTAINER_RW_PATHS"] = SharedDirectory,
    };

    public async ValueTask InitializeAsync()
    {
        if (UnixIdentity.EffectiveUserId() != 0)
        {
            throw new InvalidOperationException(
                "the systemd integration tests boot a real systemd in new namespaces and must run as root (uid 0); run `dotnet test` as root on a Linux host with util-linux (unshare, nsenter) and systemd at /lib/systemd/systemd");
        }

        Directory.CreateDirectory(SharedDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var boot = await ProcessRunner.RunAsync(Script("boot.sh"), [], ScriptEnvironment, timeout.Token);
        if (boot.ExitCode != 0)
        {
            var console = Path.Combine(StateDirectory, "console.log");
            throw new InvalidOperationException(
                $"could not boot systemd in a container with tests/systemd-container/boot.sh ({boot}); console: {(File.Exists(console) ? await File.ReadAllTextAsync(console, timeout.Token) : "none")}. " +
                "It needs root, util-linux unshare/nsenter, systemd 252 at /lib/systemd/systemd, dbus, and the hybrid (v1) cgroup layout.");
        }

        Pid = int.Parse(File.ReadAllLines(Path.Combine(StateDirectory, "pid"))[0].Trim());
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await ProcessRunner.RunAsync(Script("stop.sh"), [], ScriptEnvironment, timeout.Token);
        _directory.Delete(recursive: true);
        if (Directory.Exists(SharedDirectory))
        {
            Directory.Delete(SharedDirectory, recursive: true);
        }
    }

    /// <summary>The host's pid of a process the container's PID namespace calls <paramref name="pid"/>.</summary>
    public int HostPid(int pid)
    {
        var namespaceLink = new FileInfo($"/proc/{Pid}/ns/pid").LinkTarget;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var hostPid))
            {
                continue;
            }

            try
            {
                if (new FileInfo(Path.Combine(directory, "ns", "pid")).LinkTarget != namespaceLink)
                {
                    continue;
                }

                var nsPid = File.ReadLines(Path.Combine(directory, "status")).FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
                if (nsPid?.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[^1] == pid.ToString())
                {
                    return hostPid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }

        throw new InvalidOperationException($"no process with pid {pid} in the container's PID namespace");
    }

    /// <summary>Runs a command inside the container's mount and PID namespaces (systemctl, journalctl, busctl).</summary>
    internal Task<ProcessResult> ExecInsideAsync(CancellationToken cancellationToken, params string[] command) =>
        ProcessRunner.RunAsync("nsenter", ["-t", Pid.ToString(), "-m", "-p", "--", .. command], null, cancellationToken);

    internal async Task<DBusConnection> ConnectBusAsync(CancellationToken cancellationToken) =>
        await DBusConnection.ConnectAsync(BusAddress, DBusConnectionMode.Bus, cancellationToken);

    private static string Script(string name)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "tests", "systemd-container", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"tests/systemd-container/{name} not found above {AppContext.BaseDirectory}");
    }
}

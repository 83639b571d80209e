using System.Globalization;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Tests.Support;
using UnifiedLlm.Tests.Systemd;
using RpcServerBinary = UnifiedLlm.Tests.Models.RpcServerBinary;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// [rpc_worker] under a real ullmd on the systemd supervisor: the real systemd of a container
/// (<see cref="SystemdContainerFixture"/>, which shares this host's network) runs the real ggml-rpc-server as a
/// sandboxed transient unit in ullm.slice; ullmd reads and logs its memory over the RPC protocol, starts a new unit
/// after the worker is killed, and stops it when ullmd stops. <see cref="RpcWorkerRoleTests"/> runs the same role on
/// plain processes.
/// </summary>
public sealed partial class RpcWorkerSystemdTests(SystemdContainerFixture container) : IClassFixture<SystemdContainerFixture>
{
    [Fact(Timeout = 180_000)]
    public async Task The_worker_runs_as_a_sandboxed_unit_in_ullm_slice_reports_its_memory_comes_back_after_a_kill_is_replaced_after_ullmd_is_killed_and_stops_with_ullmd()
    {
        var (rpc, reason) = RpcServerBinary.Find();
        if (rpc is null)
        {
            Assert.Skip(reason);
        }

        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory("ullm-rpc-systemd", container.SharedDirectory);
        // A unit runs as a dynamic user that cannot read /root, where the build is cached: it runs a copy (the build is static).
        var executable = dir.File("ggml-rpc-server");
        File.Copy(rpc, executable);
        File.SetUnixFileMode(dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var port = TestPki.FreePort();
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [rpc_worker]
            listen = "127.0.0.9:{port}"
            executable = "{executable}"
            threads = 1
            """, serverExtra: $"supervisor = \"systemd\"\nsystemd_address = \"{container.BusAddress}\"");

        int first;
        int second;
        await using (var daemon = await DaemonProcess.StartAsync(dir, paths))
        {
            var reported = await ExposedAsync(daemon, 1, ct);
            var probe = Assert.Single(await RpcProbe.ReadAsync("127.0.0.9", port, TimeSpan.FromSeconds(3), ct));
            Assert.Equal((probe.FreeBytes, probe.TotalBytes), reported);

            first = AssertInUnit(executable, port);

            // Killed as a crash would kill it: systemd reports the unit's end, and ullmd starts a new unit.
            Signals.Send(first, Signals.Kill);
            await ExposedAsync(daemon, 2, ct);
            Assert.Matches(@"rpc worker: ullm-rpc\\x2dworker-[0-9a-f]+\.service ended:", daemon.Output);
            second = AssertInUnit(executable, port);
            Assert.NotEqual(first, second);
            Assert.Single(await RpcProbe.ReadAsync("127.0.0.9", port, TimeSpan.FromSeconds(3), ct));

            // ullmd is killed: the worker's unit outlives it, holding the port.
            Signals.Send(daemon.Pid, Signals.Kill);
            await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal([second], Workers(executable));
        }

        // The next ullmd stops that leftover unit (it has no model to adopt it for) before its own worker takes the port.
        await using (var next = await DaemonProcess.StartAsync(dir, paths))
        {
            await ExposedAsync(next, 1, ct);
            Assert.Matches(@"ullm-rpc\\x2dworker-[0-9a-f]+\.service: not adopted \(rpc-worker\): no record; stopping it", next.Output);
            var third = AssertInUnit(executable, port);
            Assert.NotEqual(second, third);
            Assert.Single(await RpcProbe.ReadAsync("127.0.0.9", port, TimeSpan.FromSeconds(3), ct));

            // ullmd stops: so does its worker.
            Signals.Send(next.Pid, Signals.Terminate);
            await next.WaitForExitAsync(TimeSpan.FromSeconds(60));
            Assert.Empty(Workers(executable));
            await Assert.ThrowsAsync<RpcProbeException>(() => RpcProbe.ReadAsync("127.0.0.9", port, TimeSpan.FromSeconds(2), ct));
        }
    }

    /// <summary>The one worker process, checked to be in a unit of ullm.slice, as a dynamic user, without new privileges, with its argv; its host pid.</summary>
    private static int AssertInUnit(string executable, int port)
    {
        var pid = Assert.Single(Workers(executable));
        var cgroup = File.ReadAllText($"/proc/{pid}/cgroup");
        // The unit is named after the model label, escaped as systemd escapes a name: "rpc\x2dworker".
        Assert.Matches(@"/ullm\.slice/ullm-rpc\\x2dworker-[0-9a-f]+\.service\n", cgroup);
        var status = File.ReadAllLines($"/proc/{pid}/status");
        var uid = status.Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1];
        Assert.True(uid != "0", $"uid {uid}: a dynamic user was expected");
        Assert.Equal("1", status.Single(l => l.StartsWith("NoNewPrivs:", StringComparison.Ordinal)).Split('\t')[1]);
        var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([executable, "-H", "127.0.0.9", "-p", port.ToString(CultureInfo.InvariantCulture), "-t", "1"], argv);
        return pid;
    }

    /// <summary>Host pids of live processes running <paramref name="executable"/>.</summary>
    private static List<int> Workers(string executable)
    {
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), out var pid))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0')[0] == executable
                        && !File.ReadAllText(Path.Combine(entry, "stat")).Split(") ")[1].StartsWith('Z'))
                    {
                        found.Add(pid);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The process ended while it was read.
                }
            }
        }

        return found;
    }

    /// <summary>The device 0 figures of the <paramref name="count"/>-th "exposes" line in ullmd's log, once it is there.</summary>
    private static async Task<(ulong Free, ulong Total)> ExposedAsync(DaemonProcess daemon, int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var lines = Exposes().Matches(daemon.Output);
            if (lines.Count >= count)
            {
                var line = lines[count - 1];
                return (ulong.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture), ulong.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture));
            }

            Assert.True(DateTime.UtcNow < deadline, $"no {count}. 'exposes' line within 60 s:\n{daemon.Output}");
            await Task.Delay(200, ct);
        }
    }

    [GeneratedRegex(@"rpc worker: \S+ exposes device 0: (\d+) bytes free of (\d+)")]
    private static partial Regex Exposes();
}

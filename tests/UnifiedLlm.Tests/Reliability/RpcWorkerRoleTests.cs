using System.Globalization;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// [rpc_worker] under a real ullmd (process supervisor) with the real ggml-rpc-server: it runs, its devices' memory is
/// logged as a head reads it, and after it is killed ullmd starts it again.
/// </summary>
public sealed partial class RpcWorkerRoleTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_worker_runs_reports_its_memory_and_is_started_again_after_it_is_killed()
    {
        var (rpc, reason) = RpcServerBinary.Find();
        if (rpc is null)
        {
            Assert.Skip(reason);
        }

        var ct = TestContext.Current.CancellationToken;
        var port = TestPki.FreePort();
        await using var worker = (await TinyDaemon.StartAsync("ullm-rpc-role-", $"""
            [rpc_worker]
            listen = "127.0.0.7:{port}"
            executable = "{rpc}"
            threads = 1
            """))!;

        var first = await ReportedAsync(worker, 1, ct);
        var probe = Assert.Single(await RpcProbe.ReadAsync("127.0.0.7", port, TimeSpan.FromSeconds(3), ct));
        Assert.Equal((probe.FreeBytes, probe.TotalBytes), first);
        var running = Assert.Single(worker.Backends(), b => b.Model == RpcWorkerRole.ModelLabel);
        var argv = (await File.ReadAllTextAsync($"/proc/{running.Pid}/cmdline", ct)).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([rpc, "-H", "127.0.0.7", "-p", port.ToString(CultureInfo.InvariantCulture), "-t", "1"], argv);

        ProcessGroupSignals.Send(running.Pid, ProcessGroupSignals.Kill);

        await ReportedAsync(worker, 2, ct);
        Assert.Contains($"rpc worker: {running.UnitName} ended:", worker.Process.Output, StringComparison.Ordinal);
        var again = Assert.Single(worker.Backends(), b => b.Model == RpcWorkerRole.ModelLabel && b.Pid != running.Pid);
        Assert.NotEqual(running.UnitName, again.UnitName);
        Assert.Single(await RpcProbe.ReadAsync("127.0.0.7", port, TimeSpan.FromSeconds(3), ct));
    }

    /// <summary>The device 0 figures of the <paramref name="count"/>-th "exposes" line in ullmd's log, once it is there.</summary>
    internal static async Task<(ulong Free, ulong Total)> ReportedAsync(TinyDaemon worker, int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var lines = Exposes().Matches(worker.Process.Output);
            if (lines.Count >= count)
            {
                var m = lines[count - 1];
                return (ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), ulong.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
            }

            Assert.True(DateTime.UtcNow < deadline, $"no {count} report(s) of the worker's devices within {Patience}:\n{worker.Process.Output}");
            await Task.Delay(200, ct);
        }
    }

    [GeneratedRegex(@"exposes device 0: (\d+) bytes free of (\d+)")]
    private static partial Regex Exposes();
}

using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// <see cref="RpcProbe"/> against the real ggml-rpc-server of the pinned llama.cpp, on a loopback address of its own:
/// the memory its CPU device reports, a worker that serves another client, and one that is not there.
/// </summary>
public sealed class RpcProbeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_worker_reports_its_cpu_device_and_one_busy_or_gone_is_named_as_such()
    {
        var (rpc, reason) = RpcServerBinary.Find();
        if (rpc is null)
        {
            Assert.Skip(reason);
        }

        var ct = TestContext.Current.CancellationToken;
        var port = TestPki.FreePort();
        using var worker = Process.Start(new ProcessStartInfo(rpc, ["-H", "127.0.0.6", "-p", port.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var devices = await ReadWhenListeningAsync(port, ct);

            // ggml's CPU device reports the physical memory as both free and total (sysconf: _SC_PHYS_PAGES × page size).
            var device = Assert.Single(devices);
            Assert.Equal(0, device.Index);
            Assert.Equal(device.TotalBytes, device.FreeBytes);
            var memTotal = ulong.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            Assert.Equal(memTotal, device.TotalBytes);

            // It serves one client at a time: a held connection leaves the next one without an answer.
            using var holder = new TcpClient();
            await holder.ConnectAsync("127.0.0.6", port, ct);
            await holder.GetStream().WriteAsync(Hello(), ct);
            await holder.GetStream().ReadExactlyAsync(new byte[8 + 28], ct);
            var busy = await Assert.ThrowsAsync<RpcProbeException>(() => RpcProbe.ReadAsync("127.0.0.6", port, Timeout, ct));
            Assert.Equal("no answer to HELLO within 3 s (a worker serves one client at a time: a loaded model or another head may hold it)", busy.Message);
        }
        finally
        {
            worker.Kill();
            await worker.WaitForExitAsync(ct);
        }

        var gone = await Assert.ThrowsAsync<RpcProbeException>(() => RpcProbe.ReadAsync("127.0.0.6", port, Timeout, ct));
        Assert.StartsWith("connect: Connection refused", gone.Message, StringComparison.Ordinal);
    }

    private static async Task<IReadOnlyList<RpcDeviceMemory>> ReadWhenListeningAsync(int port, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await RpcProbe.ReadAsync("127.0.0.6", port, Timeout, ct);
            }
            catch (RpcProbeException e) when (attempt < 100 && e.Message.StartsWith("connect:", StringComparison.Ordinal))
            {
                await Task.Delay(100, ct);
            }
        }
    }

    /// <summary>HELLO as ggml-rpc.cpp sends it: command 14, a u64 size of 24, 24 bytes of transport capabilities (none).</summary>
    private static byte[] Hello()
    {
        var hello = new byte[1 + 8 + 24];
        hello[0] = 14;
        hello[1] = 24;
        return hello;
    }
}

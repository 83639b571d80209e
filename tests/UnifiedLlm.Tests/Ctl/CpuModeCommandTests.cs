using System.Text.Json;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>ullmctl against a real ullmd whose [gpu] nvml_library does not exist: CPU mode, said clearly, and plans for the CPU.</summary>
public sealed class CpuModeCommandTests
{
    [Fact]
    public async Task Gpus_and_status_say_cpu_mode_and_why()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var gpus = await host.CtlAsync("gpus");
        var gpusJson = await host.CtlAsync("gpus", "--json");
        var status = await host.CtlAsync("status");

        Assert.Equal(0, gpus.ExitCode);
        Assert.Matches("^no GPU in use, CPU mode: .*no-such-libnvidia-ml.so.1.*\n$", gpus.StandardOutput);
        using var doc = JsonDocument.Parse(gpusJson.StandardOutput);
        Assert.Empty(doc.RootElement.GetProperty("gpus").EnumerateArray());
        Assert.Contains("no-such-libnvidia-ml.so.1", doc.RootElement.GetProperty("cpuModeReason").GetString());
        Assert.Matches("(?m)^gpus        none, CPU mode: .*no-such-libnvidia-ml.so.1", status.StandardOutput);
        Assert.Single(Regex.Matches(host.Daemon.Output, "running in CPU mode"));
    }

    [Fact]
    public async Task Plan_in_cpu_mode_keeps_everything_in_host_memory()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var result = await host.CtlAsync("plan", "tiny");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            """
            tiny: CPU only, 0/3 layers on GPU (incl. output), 4 slot(s) × n_ctx 256
            GPU 0 B, host 2.5 MiB

            WHERE  TERM            BYTES    SIZE       HOW
            host   weights         481536   470.3 KiB  token embeddings + blocks 0-1 + output head
            host   kv cache        524288   512.0 KiB  2 layers × 4 slots × n_ctx 256 (padded to 256) × n_head_kv 4 × (k 16 × f16 + v 16 × f16)
            host   compute buffer  1577632  1.5 MiB    llama.cpp compute graph on the CPU, n_ctx 1024

            evicts nothing
            backend args: --n-gpu-layers 0 --ctx-size 1024 --parallel 4 --cache-type-k f16 --cache-type-v f16

            """,
            result.StandardOutput);
    }
}

using System.Text.Json;
using UnifiedLlm.Tests.Gpu;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>ullmctl gpus, plan and status against a real ullmd reading the fake libnvidia-ml (two GPUs) through [gpu] nvml_library.</summary>
[Collection(FakeNvmlTests.Name)]
public sealed class GpuAndPlanCommandTests(FakeNvmlBuild nvml)
{
    [Fact]
    public async Task Gpus_prints_both_fake_gpus_with_memory_utilisation_temperature_and_foreign_processes()
    {
        await using var host = await CtlHost.StartAsync(nvml);

        var result = await host.CtlAsync("gpus");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            """
            NVIDIA driver 550.54.14
            GPU  NAME                   USED      FREE      TOTAL     RESERVE    UTIL  MEM-UTIL  TEMP  OURS  FOREIGN
            0    NVIDIA H100 80GB HBM3  10.5 GiB  69.5 GiB  80.0 GiB  512.0 MiB  37%   12%       45°C  -     2 (10.0 GiB)
            1    NVIDIA A10             0 B       22.5 GiB  22.5 GiB  512.0 MiB  0%    0%        n/a   -     -

            processes
            GPU  PID   MEMORY   UNIT       MODEL
            0    4242  8.0 GiB  (foreign)  -
            0    5151  2.0 GiB  (foreign)  -

            """,
            result.StandardOutput);
    }

    [Fact]
    public async Task Metrics_carry_each_gpus_memory_from_the_monitor()
    {
        await using var host = await CtlHost.StartAsync(nvml);
        using var client = Gateway.GatewayHost.UnixClient(host.Daemon.Paths.OpenAiSocket);

        var metrics = await client.GetStringAsync("metrics", TestContext.Current.CancellationToken);

        // NVML's used memory counts the driver's reserved part too: 10 GiB used + 512 MiB reserved.
        Assert.Contains("ullm_gpu_memory_used_bytes{gpu=\"0\",uuid=\"GPU-11111111-2222-3333-4444-555555555555\"} 11274289152", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_gpu_memory_total_bytes{gpu=\"1\",uuid=\"GPU-66666666-7777-8888-9999-000000000000\"} 24146608128", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_gpu_memory_backend_bytes{gpu=\"0\",uuid=\"GPU-11111111-2222-3333-4444-555555555555\"} 0", metrics, StringComparison.Ordinal);
        // [gpu] reserve_mib = 512, on each GPU.
        Assert.Contains("ullm_gpu_memory_reserve_bytes{gpu=\"0\",uuid=\"GPU-11111111-2222-3333-4444-555555555555\"} 536870912", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_gpu_memory_reserve_bytes{gpu=\"1\",uuid=\"GPU-66666666-7777-8888-9999-000000000000\"} 536870912", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gpus_json_carries_every_field_nvml_reported()
    {
        await using var host = await CtlHost.StartAsync(nvml);

        var result = await host.CtlAsync("gpus", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        var root = doc.RootElement;
        Assert.Equal("550.54.14", root.GetProperty("driverVersion").GetString());
        Assert.Equal("", root.GetProperty("cpuModeReason").GetString());
        var gpus = root.GetProperty("gpus").EnumerateArray().ToArray();
        Assert.Equal(2, gpus.Length);
        Assert.Equal("NVIDIA H100 80GB HBM3", gpus[0].GetProperty("name").GetString());
        Assert.Equal("GPU-11111111-2222-3333-4444-555555555555", gpus[0].GetProperty("uuid").GetString());
        Assert.Equal("00000000:17:00.0", gpus[0].GetProperty("pciBusId").GetString());
        Assert.Equal("85899345920", gpus[0].GetProperty("totalBytes").GetString());
        Assert.Equal(37, gpus[0].GetProperty("utilizationPercent").GetInt32());
        Assert.Equal(45, gpus[0].GetProperty("temperatureCelsius").GetInt32());
        Assert.Equal("536870912", gpus[0].GetProperty("reserveBytes").GetString());
        Assert.Equal([4242, 5151], gpus[0].GetProperty("processes").EnumerateArray().Select(p => p.GetProperty("pid").GetInt32()));
        Assert.All(gpus[0].GetProperty("processes").EnumerateArray(), p => Assert.Equal("", p.GetProperty("unit").GetString()));
        Assert.Equal("NVIDIA A10", gpus[1].GetProperty("name").GetString());
        Assert.False(gpus[1].TryGetProperty("temperatureCelsius", out _), "the A10 has no temperature sensor in the fake table");
    }

    [Fact]
    public async Task Status_summarises_the_gpus()
    {
        await using var host = await CtlHost.StartAsync(nvml);

        var table = await host.CtlAsync("status");
        var json = await host.CtlAsync("status", "--json");

        Assert.Equal(0, table.ExitCode);
        Assert.Contains("gpus        2\n", table.StandardOutput);
        Assert.Contains(
            """
            gpus
            GPU  NAME                   USED      FREE      TOTAL
            0    NVIDIA H100 80GB HBM3  10.5 GiB  69.5 GiB  80.0 GiB
            1    NVIDIA A10             0 B       22.5 GiB  22.5 GiB

            """,
            table.StandardOutput);
        Assert.DoesNotContain("NVML GPU monitor", table.StandardOutput);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        Assert.Equal("", doc.RootElement.GetProperty("cpuModeReason").GetString());
        Assert.Equal(["NVIDIA H100 80GB HBM3", "NVIDIA A10"], doc.RootElement.GetProperty("gpus").EnumerateArray().Select(g => g.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Plan_places_the_tiny_model_on_the_gpu_with_most_free_memory_and_shows_every_term()
    {
        await using var host = await CtlHost.StartAsync(nvml);

        var result = await host.CtlAsync("plan", "tiny");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            """
            tiny: GPU0, 3/3 layers on GPU (incl. output), 4 slot(s) × n_ctx 256
            GPU 468.4 MiB, host 202.5 KiB

            WHERE  TERM            BYTES      SIZE       HOW
            gpu0   weights         405248     395.8 KiB  tensor bytes of blocks 0-1 + output head
            gpu0   kv cache        524288     512.0 KiB  2 layers × 4 slots × n_ctx 256 (padded to 256) × n_head_kv 4 × (k 16 × f16 + v 16 × f16)
            gpu0   compute buffer  11012096   10.5 MiB   llama.cpp compute graph, full offload, n_ctx 1024
            gpu0   cuda overhead   479199232  457.0 MiB  CUDA context, cuBLAS workspace and allocator slack (fixed)
            host   weights         76288      74.5 KiB   token embeddings
            host   kv cache        0          0 B        0 layers × 4 slots × n_ctx 256 (padded to 256) × n_head_kv 4 × (k 16 × f16 + v 16 × f16)
            host   compute buffer  131072     128.0 KiB  graph inputs and outputs kept on the host

            evicts nothing
            backend args: --n-gpu-layers 3 --ctx-size 1024 --parallel 4 --cache-type-k f16 --cache-type-v f16

            """,
            result.StandardOutput);
    }

    [Fact]
    public async Task Plan_with_a_gpu_and_layer_count_splits_the_model_between_that_gpu_and_the_host()
    {
        await using var host = await CtlHost.StartAsync(nvml);

        var result = await host.CtlAsync("plan", "small", "--gpu", "1", "--layers", "1", "--ctx", "128", "--json");

        Assert.Equal(0, result.ExitCode);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        var plan = doc.RootElement;
        Assert.True(plan.GetProperty("fits").GetBoolean());
        Assert.Equal([1], plan.GetProperty("gpus").EnumerateArray().Select(g => g.GetInt32()));
        Assert.Equal(1, plan.GetProperty("gpuLayers").GetInt32());
        Assert.Equal(2, plan.GetProperty("totalLayers").GetInt32());
        Assert.Equal(128, plan.GetProperty("context").GetInt32());
        var terms = plan.GetProperty("terms").EnumerateArray().ToArray();
        Assert.Equal(
            ["gpu1 weights", "gpu1 kv cache", "gpu1 compute buffer", "gpu1 cuda overhead", "host weights", "host kv cache", "host compute buffer"],
            terms.Select(t => $"{t.GetProperty("where").GetString()} {t.GetProperty("name").GetString()}"));
        var gpuSum = terms.Where(t => t.GetProperty("where").GetString() == "gpu1").Aggregate(0UL, (sum, t) => sum + ulong.Parse(t.GetProperty("bytes").GetString()!));
        var hostSum = terms.Where(t => t.GetProperty("where").GetString() == "host").Aggregate(0UL, (sum, t) => sum + ulong.Parse(t.GetProperty("bytes").GetString()!));
        Assert.Equal(ulong.Parse(plan.GetProperty("gpuBytes").GetString()!), gpuSum);
        Assert.Equal(ulong.Parse(plan.GetProperty("hostBytes").GetString()!), hostSum);
        // llama.cpp's -ngl 1 offloads the output head alone; both blocks stay on the host.
        Assert.Equal("tensor bytes of no blocks + output head", terms[0].GetProperty("formula").GetString());
        Assert.Equal("2 layers × 4 slots × n_ctx 128 (padded to 256) × n_head_kv 4 × (k 16 × f16 + v 16 × f16)", terms[5].GetProperty("formula").GetString());
        Assert.Equal(4, plan.GetProperty("parallel").GetInt32());
        Assert.Equal(
            ["--n-gpu-layers 1", "--ctx-size 512", "--parallel 4", "--cache-type-k f16", "--cache-type-v f16"],
            plan.GetProperty("backendArgs").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task A_model_pinned_to_gpu_1_is_planned_there_though_gpu_0_has_more_free_and_may_not_be_moved()
    {
        await using var host = await CtlHost.StartAsync(nvml, extraConfig: "gpus = [1]\nparallel = 2\n");

        var result = await host.CtlAsync("plan", "tiny");
        var elsewhere = await host.CtlAsync("plan", "tiny", "--gpu", "0");
        var slots = await host.CtlAsync("plan", "tiny", "--parallel", "1", "--cache-type", "q8_0", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("tiny: GPU1, 3/3 layers on GPU (incl. output), 2 slot(s) × n_ctx 256\n", result.StandardOutput);
        Assert.Equal(2, elsewhere.ExitCode);
        Assert.Equal("ullmctl: gpu: model 'tiny' may only use GPU(s) 1 (gpus in its config)\n", elsewhere.StandardError);
        // The tiny model's heads are 16 wide; q8_0 blocks of 32 cannot hold them, as llama.cpp itself refuses.
        Assert.Equal(1, slots.ExitCode);
        using var doc = JsonDocument.Parse(slots.StandardOutput);
        Assert.Equal(
            "tiny: K cache type q8_0 has blocks of 32 elements, which do not divide the model's head width 16",
            doc.RootElement.GetProperty("refusal").GetString());
    }

    [Fact]
    public async Task Plan_refuses_when_the_layers_asked_for_do_not_fit_and_says_what_is_missing()
    {
        var tooSmall = FakeGpuHost.TwoGpus
            .Replace("gpu0.memory_used=10737418240", "gpu0.memory_used=85000000000", StringComparison.Ordinal)
            .Replace("gpu1.memory_used=0", "gpu1.memory_used=24000000000", StringComparison.Ordinal);
        await using var host = await CtlHost.StartAsync(nvml, gpuTable: tooSmall);

        var result = await host.CtlAsync("plan", "tiny", "--layers", "3");
        var json = await host.CtlAsync("plan", "tiny", "--layers", "3", "--json");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("tiny does not fit: tiny needs 459.0 MiB (all 2 layers + output, 1 slot(s) × n_ctx 256), 0 B free on GPU", result.StandardOutput);
        Assert.Contains("reserve and evicting nothing", result.StandardOutput);
        Assert.Equal(1, json.ExitCode);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        Assert.False(doc.RootElement.GetProperty("fits").GetBoolean());
        Assert.Equal(result.StandardOutput["tiny does not fit: ".Length..].TrimEnd('\n'), doc.RootElement.GetProperty("refusal").GetString());
    }

    [Fact]
    public async Task Plan_names_what_is_wrong_with_the_request()
    {
        await using var host = await CtlHost.StartAsync(nvml);

        var unknown = await host.CtlAsync("plan", "tinyy");
        var noGpu = await host.CtlAsync("plan", "tiny", "--gpu", "7");
        var badLayers = await host.CtlAsync("plan", "tiny", "--layers", "many");

        Assert.Equal(5, unknown.ExitCode);
        Assert.Equal("ullmctl: name: no model named 'tinyy' (did you mean 'tiny'?)\n", unknown.StandardError);
        Assert.Equal(2, noGpu.ExitCode);
        Assert.Equal("ullmctl: gpu: there is no GPU 7 (GPUs: 0, 1)\n", noGpu.StandardError);
        Assert.Equal(2, badLayers.ExitCode);
        Assert.Contains("--layers: 'many' is not 'auto' or a number of layers", badLayers.StandardError);
    }
}

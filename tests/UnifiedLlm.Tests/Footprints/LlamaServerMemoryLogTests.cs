using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Footprints;

public sealed class LlamaServerMemoryLogTests
{
    private const ulong MiB = 1 << 20;

    [Fact]
    public void Buffers_are_summed_per_gpu_and_for_the_host_and_other_lines_ignored()
    {
        // The shapes llama.cpp prints for a model split over two CUDA devices with the output on the host.
        string[] log =
        [
            "0.00.012.248 I print_info: file size   = 4.58 GiB (4.89 BPW)",
            "load_tensors: offloaded 33/33 layers to GPU",
            "load_tensors:        CUDA0 model buffer size =  2048.00 MiB",
            "load_tensors:        CUDA1 model buffer size =  1529.56 MiB",
            "load_tensors:   CPU_Mapped model buffer size =    70.31 MiB",
            "llama_context:  CUDA_Host  output buffer size =     0.49 MiB",
            "llama_kv_cache:      CUDA0 KV buffer size =   256.00 MiB",
            "llama_kv_cache:      CUDA1 KV buffer size =   256.00 MiB",
            "llama_kv_cache: size =  512.00 MiB (  4096 cells,  32 layers,  1/1 seqs)",
            "sched_reserve:      CUDA0 compute buffer size =   296.00 MiB",
            "sched_reserve:      CUDA1 compute buffer size =   304.50 MiB",
            "sched_reserve:  CUDA_Host compute buffer size =    16.01 MiB",
            "srv    load_model: prompt cache is enabled, size limit: 8192 MiB",
        ];

        var report = LlamaServerMemoryLog.Parse(log);

        Assert.Equal(2, report.Gpus.Count);
        Assert.Equal(new BufferSizes(2048 * MiB, 256 * MiB, 296 * MiB), report.Gpus[0]);
        Assert.Equal(new BufferSizes((ulong)Math.Round(1529.56 * MiB), 256 * MiB, (ulong)Math.Round(304.5 * MiB)), report.Gpus[1]);
        Assert.Equal((ulong)Math.Round(70.31 * MiB), report.Host.ModelBytes);
        Assert.Equal(0UL, report.Host.KvBytes);
        Assert.Equal((ulong)Math.Round(0.49 * MiB) + (ulong)Math.Round(16.01 * MiB), report.Host.ComputeBytes);
    }

    [Fact]
    public void A_log_without_buffer_lines_is_empty()
    {
        Assert.True(LlamaServerMemoryLog.Parse(["main: server is listening on http://127.0.0.1:8080", ""]).IsEmpty);
    }

    [Fact]
    public void Rocm_devices_count_as_gpus()
    {
        var report = LlamaServerMemoryLog.Parse(["load_tensors: ROCm0 model buffer size = 100.00 MiB"]);

        Assert.Equal(100 * MiB, Assert.Single(report.Gpus).ModelBytes);
    }
}

using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Models;

public sealed class LlamaCppMemoryEstimatorTests
{
    private const ulong MiB = 1024 * 1024;
    private const ulong GiB = 1024 * MiB;
    private const ulong Llama3Layer = 436_240_384;
    private const ulong Llama3Embeddings = 1_050_673_152;
    private const ulong Llama3Output = 1_050_689_536;

    private static readonly LlamaCppMemoryEstimator Estimator = new(new LlamaCppSizingSettings());

    [Theory]
    // Llama-3-8B: 32 layers · 8 KV heads · (128 + 128) · 2 bytes = 131,072 B = 128 KiB per token in f16
    [InlineData("F16", 131_072)]
    // q8_0: 32 · 8 · 256 elements · 34/32 bytes = 69,632
    [InlineData("Q8_0", 69_632)]
    // q4_0: 32 · 8 · 256 · 18/32 = 36,864
    [InlineData("Q4_0", 36_864)]
    // f32: 32 · 8 · 256 · 4 = 262,144
    [InlineData("F32", 262_144)]
    public void Llama3_kv_bytes_per_token_by_cache_type(string cacheType, ulong expected)
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Llama3_8B.WriteAndProfile(dir);

        Assert.Equal(expected, KvCacheSize.BytesPerToken(p, Enum.Parse<GgmlType>(cacheType)));
    }

    [Fact]
    public void Llama3_8B_fully_offloaded_at_8k()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Llama3_8B.WriteAndProfile(dir);

        var e = Estimator.Estimate(p, 8192, GgmlType.F16, gpuLayers: 33);

        var gpu = Assert.Single(e.Gpus);
        Assert.Equal((0, 32, true), (gpu.FirstLayer, gpu.Layers, gpu.HasOutput));
        // 32 layers · 436,240,384 + output 1,050,689,536
        Assert.Equal((32 * Llama3Layer) + Llama3Output, gpu.WeightBytes);
        // 8192 · 128 KiB = 1 GiB
        Assert.Equal(1 * GiB, gpu.KvBytes);
        // b = 512: max(4b(1 + 4·4096 + 8192·33), 4b(4096 + 128256)) = max(2048 · 286,721, 2048 · 132,352) = 587,204,608
        Assert.Equal(587_204_608UL, gpu.ComputeBytes);
        Assert.Equal(457 * MiB, gpu.OverheadBytes);
        // host keeps token_embd and the 4·b·e input buffer (8 MiB)
        Assert.Equal((Llama3Embeddings, 0UL, 8 * MiB), (e.HostWeightBytes, e.HostKvBytes, e.HostComputeBytes));
        Assert.True(e.FullyOffloaded);
        Assert.Contains("GPU share 0: weights 13.98 GiB (layers 0-31 + output) + KV 1.00 GiB + compute 560.0 MiB + CUDA overhead 457.0 MiB", e.Breakdown(), StringComparison.Ordinal);
    }

    [Fact]
    public void Llama3_8B_partial_offload_keeps_the_first_layers_on_the_host_and_offloads_the_output_head_first()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Llama3_8B.WriteAndProfile(dir);

        var e = Estimator.Estimate(p, 8192, GgmlType.F16, gpuLayers: 20);

        // llama.cpp's -ngl 20 takes the last 20 of the 33 slots (i_gpu_start = n + 1 - ngl): blocks 13-31 and the output.
        var gpu = Assert.Single(e.Gpus);
        Assert.Equal((13, 19, true), (gpu.FirstLayer, gpu.Layers, gpu.HasOutput));
        Assert.Equal((19 * Llama3Layer) + Llama3Output, gpu.WeightBytes);
        // 19 layers · 8192 cells · 4,096 B per cell per layer
        Assert.Equal(19UL * 8192 * 4096, gpu.KvBytes);
        // partial graph: 4be = 8,388,608; attention = 4b(1 + e + max(c, e)) + e²·9/16 + 4c(bh + d·hkv)
        //   = 2048 · 12,289 + 9,437,184 + 32,768 · 17,408 = 605,030,400;
        // vocabulary = 4b(e + V) + e·V·105/128 = 271,056,896 + 430,940,160 = 701,997,056 → 8,388,608 + 701,997,056
        Assert.Equal(710_385_664UL, gpu.ComputeBytes);
        Assert.Equal(Llama3Embeddings + (13 * Llama3Layer), e.HostWeightBytes);
        Assert.Equal(13UL * 8192 * 4096, e.HostKvBytes);
        Assert.Equal(710_385_664UL, e.HostComputeBytes);
    }

    [Fact]
    public void Cpu_only_puts_everything_in_host_ram()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Llama3_8B.WriteAndProfile(dir);

        var e = Estimator.EstimateCpuOnly(p, 8192, GgmlType.Q8_0);

        Assert.Empty(e.Gpus);
        Assert.Equal(p.TensorBytes, e.HostWeightBytes);
        // 8192 · 69,632 (q8_0) = 570,425,344
        Assert.Equal(570_425_344UL, e.HostKvBytes);
        // CPU graph with flash attention and a quantized cache: 4b(3·n_ff + 3e) = 2048 · (43,008 + 12,288) = 113,246,208;
        // mask 2 · 512 · 8192 = 8,388,608; one slot's logits 4 · 128,256 = 513,024
        Assert.Equal(122_147_840UL, e.HostComputeBytes);
        Assert.Equal(0UL, e.GpuTotalBytes);
        Assert.Contains("CPU only", e.Breakdown(), StringComparison.Ordinal);
    }

    [Fact]
    public void Mistral_sliding_window_caps_kv_cells()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Mistral7B.WriteAndProfile(dir);

        // every layer slides: cells = min(n_ctx, pad256(4096 + 512)) = 4608; 32 · 4608 · 4096 B = 603,979,776 (576 MiB)
        Assert.Equal(576 * MiB, Estimator.Estimate(p, 32768, GgmlType.F16, 33).Gpus[0].KvBytes);
        // below the window the context itself bounds the cache: 32 · 2048 · 4096 = 256 MiB
        Assert.Equal(256 * MiB, Estimator.Estimate(p, 2048, GgmlType.F16, 33).Gpus[0].KvBytes);
    }

    [Fact]
    public void Qwen_tied_output_goes_to_the_gpu_as_a_copy_of_the_embeddings()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Qwen25_05B.WriteAndProfile(dir);

        var full = Estimator.Estimate(p, 32768, GgmlType.F16, 25);
        var partial = Estimator.Estimate(p, 32768, GgmlType.F16, 24);

        // 32768 · 12 KiB = 384 MiB of KV
        Assert.Equal(384 * MiB, full.Gpus[0].KvBytes);
        Assert.Equal((24 * 15_853_056UL) + 144_646_656, full.Gpus[0].WeightBytes);
        Assert.Equal(144_643_072UL, full.HostWeightBytes);
        // -ngl 24 offloads the output head (a copy of token_embd + output_norm) and blocks 1-23: block 0 stays on the host
        Assert.Equal(144_643_072UL + 15_853_056, partial.HostWeightBytes);
        Assert.Equal((23 * 15_853_056UL) + 144_646_656, partial.Gpus[0].WeightBytes);
    }

    [Fact]
    public void Mixtral_split_over_two_gpus_places_the_output_on_the_last()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Mixtral8x7B.WriteAndProfile(dir);

        var e = Estimator.Estimate(p, 4096, GgmlType.F16, [16, 17]);

        Assert.Equal((0, 16, false), (e.Gpus[0].FirstLayer, e.Gpus[0].Layers, e.Gpus[0].HasOutput));
        Assert.Equal((16, 16, true), (e.Gpus[1].FirstLayer, e.Gpus[1].Layers, e.Gpus[1].HasOutput));
        Assert.Equal(16 * 816_480_256UL, e.Gpus[0].WeightBytes);
        // output: 4096 · 32000 Q4_0 = 73,728,000 + output_norm 16,384
        Assert.Equal((16 * 816_480_256UL) + 73_744_384, e.Gpus[1].WeightBytes);
        // 16 layers · 4096 cells · 4096 B = 256 MiB each
        Assert.All(e.Gpus, g => Assert.Equal(256 * MiB, g.KvBytes));
        Assert.All(e.Gpus, g => Assert.Equal(457 * MiB, g.OverheadBytes));
    }

    [Fact]
    public void Invalid_layer_counts_are_rejected()
    {
        using var dir = new TempDirectory();
        var p = SyntheticModel.Qwen25_05B.WriteAndProfile(dir);

        Assert.Throws<ArgumentException>(() => Estimator.Estimate(p, 1024, GgmlType.F16, 26));
        Assert.Throws<ArgumentException>(() => Estimator.Estimate(p, 1024, GgmlType.Q4_K, 10));
    }
}

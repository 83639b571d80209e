using UnifiedLlm.Daemon.Models.SafeTensors;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// vLLM's memory terms for published shapes, read as vLLM's sizing reads them: config.json and the SafeTensors headers
/// of a directory written at the real tensor shapes. Every expected figure is computed by hand in the comments.
/// </summary>
public sealed class VllmMemoryTests : IDisposable
{
    private const ulong KiB = 1024;
    private const ulong GiB = 1024 * 1024 * 1024;

    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    public static TheoryData<string, ulong, ulong> Shapes => new()
    {
        // name, published parameter count (the model cards), KV bytes per token in BF16:
        // Llama-3.1-8B: 32 layers × 8 KV heads × 128 (4096 / 32) × 2 (K, V) × 2 bytes = 131,072 = 128 KiB.
        { "Llama-3.1-8B", 8_030_261_248, 128 * KiB },
        // Meta-Llama-3-8B: the same attention, so the same 128 KiB per token (1 GiB at 8k context).
        { "Meta-Llama-3-8B", 8_030_261_248, 128 * KiB },
        // Qwen2.5-32B: 64 layers × 8 KV heads × 128 (5120 / 40) × 2 × 2 = 262,144 = 256 KiB.
        { "Qwen2.5-32B", 32_763_876_352, 256 * KiB },
        // Mixtral-8x7B: 32 layers × 8 KV heads × 128 (4096 / 32) × 2 × 2 = 131,072; its experts add weights, not KV.
        { "Mixtral-8x7B-v0.1", 46_702_792_704, 128 * KiB },
        // Qwen2.5-0.5B: 24 layers × 2 KV heads × 64 (896 / 14) × 2 × 2 = 12,288 = 12 KiB.
        { "Qwen2.5-0.5B", 494_032_768, 12 * KiB },
    };

    private static PublishedShape Shape(string name) =>
        new[] { PublishedShape.Llama31_8B, PublishedShape.Llama3_8B, PublishedShape.Qwen25_32B, PublishedShape.Mixtral_8x7B, PublishedShape.Qwen25_05B }
            .Single(s => s.Name == name);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Weights_and_kv_bytes_per_token_of_published_shapes(string name, ulong parameters, ulong kvPerToken)
    {
        var profile = SafeTensorsProfileReader.Read(Shape(name).Write(dir.Path), TestContext.Current.CancellationToken);

        Assert.Equal(parameters, profile.ParameterCount);
        Assert.Equal(parameters * 2, profile.TensorBytes);
        Assert.Equal(kvPerToken, VllmMemory.KvBytesPerToken(profile, VllmKvCacheDtype.Auto));
        // --kv-cache-dtype fp8 stores one byte per element: half.
        Assert.Equal(kvPerToken / 2, VllmMemory.KvBytesPerToken(profile, VllmKvCacheDtype.Fp8));
        // Over two GPUs each holds half of the 8 (or 2) KV heads; over 8 GPUs a 2-KV-head model replicates one head per GPU.
        Assert.Equal(kvPerToken / 2, VllmMemory.KvBytesPerToken(profile, VllmKvCacheDtype.Auto, 2));
    }

    [Fact]
    public void The_need_per_gpu_adds_weights_kv_for_every_sequence_activations_and_cuda_graphs()
    {
        var profile = SafeTensorsProfileReader.Read(PublishedShape.Llama31_8B.Write(dir.Path), TestContext.Current.CancellationToken);

        // 8192 tokens × 4 sequences × 128 KiB = 4 GiB of KV; weights 16,060,522,496 B; 2 GiB activations; 1 GiB graphs.
        var need = VllmMemory.Need(profile, 1, 8192, 4, VllmKvCacheDtype.Auto, enforceEager: false);
        Assert.Equal(16_060_522_496UL, need.WeightBytes);
        Assert.Equal(4 * GiB, need.KvBytes);
        Assert.Equal(2 * GiB, need.ActivationBytes);
        Assert.Equal(1 * GiB, need.CudaGraphBytes);
        Assert.Equal(16_060_522_496UL + (7 * GiB), need.TotalBytes);

        // Two GPUs: half the weights and half the KV heads each; --enforce-eager captures no graphs; lengths round up to 16-token blocks.
        var split = VllmMemory.Need(profile, 2, 8190, 4, VllmKvCacheDtype.Fp8, enforceEager: true);
        Assert.Equal(8_030_261_248UL, split.WeightBytes);
        Assert.Equal(8192UL * 4 * 32 * KiB, split.KvBytes);
        Assert.Equal(0UL, split.CudaGraphBytes);
    }

    [Fact]
    public void Utilization_is_the_fraction_of_the_smallest_gpu_in_hundredths_rounded_up()
    {
        // 23,576,715,264 B (16,060,522,496 + 7 GiB) of an 80 GiB H100 (85,899,345,920 B) is 27.45 % → 0.28.
        Assert.Equal(0.28, VllmMemory.Utilization(16_060_522_496UL + (7 * GiB), 80 * GiB));
        Assert.Equal(0.50, VllmMemory.Utilization(40 * GiB, 80 * GiB));
        Assert.True(VllmMemory.Utilization(81 * GiB, 80 * GiB) > 1);
        Assert.Equal((ulong)(0.27 * 80 * GiB), VllmMemory.Claim(0.27, 80 * GiB));
    }

    [Fact]
    public void Tensor_parallel_sizes_vllm_refuses_are_named()
    {
        var qwen = SafeTensorsProfileReader.Read(PublishedShape.Qwen25_05B.Write(dir.Path), TestContext.Current.CancellationToken);

        // 14 heads: 2 divides them, 4 does not; 2 KV heads replicate evenly over 2 but 14 heads do not divide over 4.
        Assert.Null(VllmMemory.TensorParallelProblem(qwen, 1));
        Assert.Null(VllmMemory.TensorParallelProblem(qwen, 2));
        Assert.Equal("its 14 attention heads do not divide over 4 GPUs", VllmMemory.TensorParallelProblem(qwen, 4));
    }

    [Theory]
    [InlineData(32, 2, new[] { 16, 16 })]
    [InlineData(5, 2, new[] { 3, 2 })]
    [InlineData(10, 4, new[] { 2, 3, 3, 2 })]
    [InlineData(7, 7, new[] { 1, 1, 1, 1, 1, 1, 1 })]
    [InlineData(24, 1, new[] { 24 })]
    public void Pipeline_stages_get_the_layers_vllm_gives_them_the_remainder_to_the_stages_before_the_last(int layers, int stages, int[] expected)
    {
        Assert.Equal(expected, VllmMemory.StageLayers(layers, stages));
    }
}

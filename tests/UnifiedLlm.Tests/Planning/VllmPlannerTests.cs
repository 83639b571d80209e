using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.SafeTensors;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Tests.Models;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

/// <summary>
/// Where vLLM engines go and with which limits, on published shapes (SafeTensors headers at real shape) and GPU
/// readings of round numbers; every figure is worked out in the comments. Reserve 512 MiB per GPU; 16,060,522,496 B
/// (14.957 GiB) of Llama-3.1-8B weights, 128 KiB of KV per token, 3 GiB of activations and CUDA graphs.
/// </summary>
public sealed class VllmPlannerTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private ModelProfile Read(PublishedShape shape) => SafeTensorsProfileReader.Read(shape.Write(dir.Path), TestContext.Current.CancellationToken);

    private static VllmRequest Request(ModelProfile model, ulong length = 8192, int seqs = 4) =>
        new("m", model, length, Math.Min(length, 2048), seqs, VllmKvCacheDtype.Auto, EnforceEager: false);

    private static GpuDevice H100(int index, ulong free) => GpuWithFree(index, free, 80 * GiB);

    [Fact]
    public void A_model_that_fits_gets_the_smallest_claim_covering_its_need()
    {
        var plan = AssertPlan(VllmPlanner.Plan(Context(0, [], H100(0, 80 * GiB)), Request(Read(PublishedShape.Llama31_8B))));

        // 14.957 GiB + 4 × 8192 × 128 KiB (4 GiB) + 3 GiB = 23,576,715,264 B = 27.45 % of 80 GiB → 0.28.
        Assert.Equal([0], plan.GpuIndices);
        Assert.Equal(new VllmLaunch(0.28, 8192, 4, 1, VllmKvCacheDtype.Auto, plan.Vllm!.Need, ""), plan.Vllm);
        Assert.Empty(plan.Evictions);
        // vLLM hands all of its claim that weights and the fixed terms leave to KV blocks: the GPU share is the whole claim.
        Assert.Equal((ulong)(0.28 * 80 * GiB), plan.Estimate.Gpus[0].TotalBytes);
        Assert.Contains("--gpu-memory-utilization 0.28 --max-model-len 8192 --max-num-seqs 4 --tensor-parallel-size 1", plan.Summary(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_too_big_for_one_gpu_is_split_over_two_with_tensor_parallelism()
    {
        var plan = AssertPlan(VllmPlanner.Plan(Context(0, [], H100(0, 80 * GiB), H100(1, 80 * GiB)), Request(Read(PublishedShape.Mixtral_8x7B), 32_768)));

        // One GPU: 93,405,585,408 B of weights alone exceed 80 GiB. Two: 46,702,792,704 + 32768 × 4 × 64 KiB (8 GiB)
        // + 3 GiB = 58,513,952,768 B = 68.12 % of 80 GiB → 0.69 on each.
        Assert.Equal([0, 1], plan.GpuIndices);
        Assert.Equal(2, plan.Vllm!.TensorParallelSize);
        Assert.Equal(0.69, plan.Vllm.GpuMemoryUtilization);
        Assert.Equal(32_768UL, plan.Vllm.MaxModelLen);
    }

    [Fact]
    public void With_pipeline_stages_this_host_is_sized_for_its_own_stage_and_the_plan_says_so()
    {
        var model = Read(PublishedShape.Llama31_8B);
        var staged = Request(model) with { PipelineStages = 2 };
        var plan = AssertPlan(VllmPlanner.Plan(Context(0, [], H100(0, 80 * GiB)), staged));

        // Stage 1 of 2 holds 16 of the 32 layers (218,112,000 parameters each, BF16: 436,224,000 B) and the token
        // embeddings (128,256 × 4096 × 2 = 1,050,673,152 B): 8,030,257,152 B; its KV is that of 16 layers, 64 KiB per
        // token, × 4 × 8192 = 2 GiB; with 3 GiB of fixed terms 13,398,966,272 B = 15.6 % of 80 GiB → 0.16 (whole: 0.28).
        Assert.Equal(new VllmGpuNeed(8_030_257_152, 2 * GiB, 2 * GiB, 1 * GiB), plan.Vllm!.Need);
        Assert.Equal(0.16, plan.Vllm.GpuMemoryUtilization);
        Assert.Equal(new VllmStage(2, 16, 32), plan.Vllm.Stage);
        Assert.Contains("--pipeline-parallel-size 2; this host runs pipeline stage 1 of 2, sized for the token embeddings and layers 0-15 of 32 with their KV cache (Ray places the other stages)", plan.Summary(), StringComparison.Ordinal);

        // On a 16 GiB GPU the whole model is refused (its weights and fixed terms alone exceed 15.5 GiB after the
        // reserve); its first stage fits: 13,398,966,272 B = 77.99 % of 16 GiB → 0.78, a claim of 13,400,297,963 B.
        var small = GpuWithFree(0, 16 * GiB, 16 * GiB);
        Assert.IsType<PlanRefusal>(VllmPlanner.Plan(Context(0, [], small), Request(model)));
        Assert.Equal(0.78, AssertPlan(VllmPlanner.Plan(Context(0, [], small), staged)).Vllm!.GpuMemoryUtilization);

        // More stages than layers: refused, naming both.
        var refusal = Assert.IsType<PlanRefusal>(VllmPlanner.Plan(Context(0, [], H100(0, 80 * GiB)), Request(model) with { PipelineStages = 33 }));
        Assert.Equal("m: pipeline_parallel_size 33 is more stages than the model's 32 layers; vLLM needs at least one layer per stage", refusal.Reason);
    }

    [Fact]
    public void Fewer_sequences_then_a_shorter_length_then_evictions_each_named()
    {
        var model = Read(PublishedShape.Llama31_8B);

        // 20 GiB free of 24 (19.5 after the reserve): 4 sequences need 21.96 GiB; 2 need 19.96 → 0.84 × 24 = 20.16 GiB,
        // too much; 1 needs 18.96 → 0.79 × 24 = 18.96 GiB, which fits.
        var fewer = AssertPlan(VllmPlanner.Plan(Context(0, [], GpuWithFree(0, 20 * GiB)), Request(model)));
        Assert.Equal((1, 8192UL, 0.79), (fewer.Vllm!.MaxNumSeqs, fewer.Vllm.MaxModelLen, fewer.Vllm.GpuMemoryUtilization));
        Assert.Equal("max_num_seqs lowered from 4 to 1 to fit", fewer.Vllm.Steps);

        // 19 GiB free (18.5 usable): the claim may be 0.77 × 24 GiB = 19,842,748,907 B; minus 19,281,747,968 B of weights
        // and fixed terms leaves 561,000,939 B = 4280 tokens of KV → 4096 in steps of 256.
        var shorter = AssertPlan(VllmPlanner.Plan(Context(0, [], GpuWithFree(0, 19 * GiB)), Request(model)));
        Assert.Equal((1, 4096UL, 0.77), (shorter.Vllm!.MaxNumSeqs, shorter.Vllm.MaxModelLen, shorter.Vllm.GpuMemoryUtilization));
        Assert.Equal("max_num_seqs lowered from 4 to 1 and max_model_len shortened from 8192 to 4096 to fit", shorter.Vllm.Steps);

        // 12 GiB free beside an idle 10 GiB instance: nothing fits without it; after evicting it 21.5 GiB is usable, where
        // 3 sequences (20.96 GiB → 0.88 × 24 = 21.12 GiB) fit and 4 (0.92 → 22.08 GiB) do not.
        var evicting = AssertPlan(VllmPlanner.Plan(Context(0, [Instance("idle", 0, 10 * GiB)], GpuWithFree(0, 12 * GiB)), Request(model)));
        Assert.Equal(["idle"], evicting.Evictions.Select(e => e.Name));
        Assert.Equal(3, evicting.Vllm!.MaxNumSeqs);
    }

    [Fact]
    public void A_gpu_whose_free_memory_cannot_hold_the_claim_is_refused_with_the_reason()
    {
        var model = Read(PublishedShape.Llama31_8B);

        // Alone neither GPU holds the 14.957 GiB of weights plus the rest. Split, each needs 8,030,261,248 + 2048 × 64 KiB
        // + 3 GiB = 11,385,704,448 B = 44.2 % of the smaller GPU's 24 GiB → 0.45; but vLLM claims that fraction of EVERY
        // GPU's total, 0.45 × 80 GiB = 36 GiB on the H100, where other processes leave 15 GiB free.
        var refusal = Assert.IsType<PlanRefusal>(VllmPlanner.Plan(Context(0, [], H100(0, 15 * GiB), GpuWithFree(1, 16 * GiB)), Request(model)));
        Assert.Contains("does not fit even at max_model_len 2048 and max_num_seqs 1", refusal.Reason, StringComparison.Ordinal);
        Assert.Contains("vLLM would claim 0.45 × 80.00 GiB = 36.00 GiB of GPU0, which has 14.50 GiB free after its 512.0 MiB reserve", refusal.Reason, StringComparison.Ordinal);

        var pinned = Assert.IsType<PlanRefusal>(VllmPlanner.Plan(Context(0, [Instance("keep", 0, 10 * GiB, pinned: true)], GpuWithFree(0, 12 * GiB)), Request(model)));
        Assert.Contains("keep is pinned", pinned.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_gpu_vllm_is_refused()
    {
        var cpu = new PlacementContext(GpuSnapshot.CpuMode(Now, "no NVIDIA driver"), 64 * GiB, [], Reserve);

        var refusal = Assert.IsType<PlanRefusal>(VllmPlanner.Plan(cpu, Request(Read(PublishedShape.Qwen25_05B))));

        Assert.Equal("m: vLLM needs a GPU and there is none to use (CPU mode: no NVIDIA driver)", refusal.Reason);
    }

    [Fact]
    public void A_model_pinned_to_gpus_is_placed_only_there_even_where_another_gpu_has_more_room()
    {
        var model = Read(PublishedShape.Llama31_8B);
        var context = Context(0, [], H100(0, 80 * GiB), H100(1, 40 * GiB));

        var pinned = AssertPlan(VllmPlanner.Plan(context, Request(model) with { AllowedGpus = new HashSet<int> { 1 } }));
        var free = AssertPlan(VllmPlanner.Plan(context, Request(model)));

        Assert.Equal([1], pinned.GpuIndices);
        Assert.Equal([0], free.GpuIndices);
        var refusal = Assert.IsType<PlanRefusal>(VllmPlanner.Plan(context, Request(model) with { AllowedGpus = new HashSet<int> { 5 } }));
        Assert.Equal("m: vLLM needs a GPU and there is none to use (none of the GPUs this model may use (5) is usable)", refusal.Reason);
    }
}

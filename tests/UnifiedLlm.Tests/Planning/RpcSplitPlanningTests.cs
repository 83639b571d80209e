using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Planning;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Planning;

/// <summary>
/// Splits across llama.cpp RPC workers, with "ten" (10 × 1 GiB layers, 512 MiB output and embeddings): this host first,
/// then the workers with the most room; the layer counts become llama-server's --rpc, --device and --tensor-split.
/// </summary>
public sealed class RpcSplitPlanningTests
{
    private static readonly GpuSnapshot NoGpu = new(Now, null, [], "no NVIDIA driver");

    private static LoadRequest Remote(ulong context = 4096, ulong min = 4096) => Request(context, min) with { AllowRemote = true };

    private static RemoteDevice Device(string worker, ulong capacity, int index = 0, int devices = 1) =>
        new(worker, $"10.0.0.{worker[0] - 'a' + 2}:50052", devices, index, capacity + (1 * GiB), capacity);

    private static PlacementContext CpuHead(ulong host, params RemoteDevice[] remote) =>
        new(NoGpu, host, [], Reserve) { Remote = remote };

    [Fact]
    public void A_cpu_head_keeps_the_most_layers_its_ram_allows_and_gives_the_rest_to_the_workers_with_most_room_first()
    {
        var plan = AssertPlan(Planner.Plan(CpuHead(4 * GiB, Device("a", 3 * GiB), Device("b", 7 * GiB)), Remote()));

        Assert.Equal(["b", "a"], plan.Remote.Select(r => r.Device.Worker));
        Assert.Empty(plan.GpuIndices);
        var hostLayers = 11 - plan.GpuLayers;
        Assert.True(hostLayers >= 2, plan.Summary());
        Assert.True(plan.Estimate.HostTotalBytes <= 4 * GiB, plan.Summary());
        Assert.All(plan.Remote, r => Assert.True(r.Bytes <= r.Device.CapacityBytes, plan.Summary()));
        Assert.Equal(plan.GpuLayers, plan.Remote.Sum(r => r.Layers));
        Assert.Contains("split over RPC workers", plan.Steps[0], StringComparison.Ordinal);

        // One layer more on the host does not fit: it really holds the most it can.
        var host = Estimator.Estimate(Ten, 4096, GgmlType.F16, [plan.Remote[0].Layers, plan.Remote[1].Layers - 1]);
        Assert.True(host.HostTotalBytes > 4 * GiB, host.Breakdown());
    }

    [Fact]
    public void The_split_becomes_rpc_device_and_whole_layer_counts_in_layer_order()
    {
        var plan = AssertPlan(Planner.Plan(CpuHead(4 * GiB, Device("a", 3 * GiB), Device("b", 7 * GiB)), Remote()));

        var args = LlamaServerArguments.RemoteSplit(plan);

        Assert.Equal(
            ["--rpc", "10.0.0.3:50052,10.0.0.2:50052", "--device", "RPC0,RPC1", "--split-mode", "layer", "--tensor-split", $"{plan.Remote[0].Layers},{plan.Remote[1].Layers}"],
            args);
    }

    [Fact]
    public void Ullmctl_plan_shows_each_remote_device_as_rows_like_a_gpu()
    {
        var plan = AssertPlan(Planner.Plan(CpuHead(4 * GiB, Device("a", 3 * GiB), Device("b", 7 * GiB)), Remote()));

        var response = PlanMapping.ToProto(plan, Ten, [], BackendKind.LlamaCpp);

        Assert.Equal(["b", "a"], response.Remote.Select(r => r.Worker));
        Assert.All(response.Remote, r => Assert.Equal((r.Layers, r.Bytes), ((uint)plan.Remote.Single(p => p.Device.Worker == r.Worker).Layers, plan.Remote.Single(p => p.Device.Worker == r.Worker).Bytes)));
        Assert.Equal(["compute buffer", "kv cache", "weights"], response.Terms.Where(t => t.Where == "rpc:b/0").Select(t => t.Name).Order());
        Assert.DoesNotContain(response.Terms, t => t.Name == "cuda overhead");
        Assert.Equal(0UL, response.GpuBytes);
        Assert.Contains("--rpc 10.0.0.3:50052,10.0.0.2:50052", response.BackendArgs);
        Assert.Contains("--device RPC0,RPC1", response.BackendArgs);
    }

    [Fact]
    public void Devices_of_a_worker_with_several_are_numbered_after_the_earlier_workers_devices()
    {
        var plan = AssertPlan(Planner.Plan(CpuHead(2 * GiB, Device("a", 5 * GiB, index: 1, devices: 2), Device("b", 9 * GiB / 2, index: 0, devices: 3), Device("b", 9 * GiB / 2, index: 2, devices: 3)), Remote()));

        Assert.Equal(["rpc:a/1", "rpc:b/0", "rpc:b/2"], plan.Remote.Select(r => r.Label));
        Assert.Equal(["--rpc", "10.0.0.2:50052,10.0.0.3:50052", "--device", "RPC1,RPC2,RPC4"], LlamaServerArguments.RemoteSplit(plan).Take(4));
    }

    [Fact]
    public void A_gpu_head_fills_its_gpu_first_then_the_workers_and_offloads_every_layer()
    {
        var context = Context(64 * GiB, [], GpuWithFree(0, 8 * GiB)) with { Remote = [Device("a", 10 * GiB)] };

        var plan = AssertPlan(Planner.Plan(context, Remote()));

        Assert.Equal(11, plan.GpuLayers);
        Assert.Equal([0], plan.GpuIndices);
        var onGpu = plan.Estimate.Gpus[0].Layers;
        Assert.True(onGpu > 0 && plan.Remote[0].Layers == 11 - onGpu, plan.Summary());
        Assert.Equal(0UL, plan.Estimate.Gpus[1].OverheadBytes);
        Assert.Equal(["--rpc", "10.0.0.2:50052", "--device", "CUDA0,RPC0", "--split-mode", "layer", "--tensor-split", $"{onGpu},{11 - onGpu}"], LlamaServerArguments.RemoteSplit(plan));
    }

    [Fact]
    public void A_split_planned_beside_a_split_in_flight_leaves_that_loads_workers_alone_and_says_why_when_it_cannot()
    {
        var first = AssertPlan(Planner.Plan(CpuHead(4 * GiB, Device("a", 7 * GiB), Device("b", 7 * GiB), Device("c", 7 * GiB)), Remote()));
        var inFlight = LoadReservation.Of("ullm-first-1.service", first);
        var used = first.Remote.Select(r => r.Device.Worker).ToHashSet();

        var context = LoadAdmission.Beside(CpuHead(4 * GiB, Device("a", 7 * GiB), Device("b", 7 * GiB), Device("c", 7 * GiB)), [inFlight]);
        var second = Planner.Plan(context, Remote());
        var onlyReserved = Assert.IsType<PlanRefusal>(Planner.Plan(
            LoadAdmission.Beside(CpuHead(2 * GiB, [.. first.Remote.Select(r => r.Device)]), [inFlight]), Remote()));

        Assert.NotEmpty(used);
        Assert.Equal(used, inFlight.Workers);
        Assert.DoesNotContain(context.Remote, d => used.Contains(d.Worker));
        Assert.All(used, w => Assert.Contains(context.RemoteSkipped, s => s.StartsWith($"rpc worker '{w}'", StringComparison.Ordinal) && s.EndsWith("reserved by a load in flight (ullm-first-1.service)", StringComparison.Ordinal)));
        if (second is LoadPlan plan)
        {
            Assert.DoesNotContain(plan.Remote, r => used.Contains(r.Device.Worker));
        }

        Assert.Contains("reserved by a load in flight (ullm-first-1.service)", onlyReserved.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_that_fits_here_stays_here_and_one_that_fits_nowhere_is_refused_naming_the_workers()
    {
        var here = AssertPlan(Planner.Plan(CpuHead(64 * GiB, Device("a", 30 * GiB)), Remote()));
        var tooBig = Assert.IsType<PlanRefusal>(Planner.Plan(CpuHead(2 * GiB, Device("a", 3 * GiB)) with { RemoteSkipped = ["rpc worker 'b' (10.0.0.3:50052): does not answer: connect: Connection refused"] }, Remote()));
        var notForOllama = Assert.IsType<PlanRefusal>(Planner.Plan(CpuHead(2 * GiB, Device("a", 30 * GiB)), Request(4096, 4096)));

        Assert.Empty(here.Remote);
        Assert.Contains("rpc:a/0 3.00 GiB, still too little", tooBig.Reason, StringComparison.Ordinal);
        Assert.Contains("skipped: rpc worker 'b' (10.0.0.3:50052): does not answer: connect: Connection refused", tooBig.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("rpc", notForOllama.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_answering_workers_that_no_model_holds_lend_devices_capped_by_their_memory_limit()
    {
        var config = ConfigLoader.Parse("""
            [rpc_workers.a]
            address = "10.0.0.2:50052"
            memory_limit_mib = 1024
            [rpc_workers.b]
            address = "10.0.0.3:50052"
            [rpc_workers.c]
            address = "10.0.0.4:50052"
            [rpc_head]
            host_memory_mib = 3072
            """, "head.toml");
        RpcDeviceMemory[] devices = [new(0, 4 * GiB, 8 * GiB)];
        RpcWorkerReading[] readings =
        [
            new(config.RpcWorkers["a"], devices, Now, null, null),
            new(config.RpcWorkers["b"], devices, Now, "connect: Connection refused", null),
            new(config.RpcWorkers["c"], devices, Now, null, "big"),
        ];

        var context = PlanInputs.Placement(config, NoGpu, 64 * GiB, [], readings);

        Assert.Equal(3 * GiB, context.HostAvailableBytes);
        var remote = Assert.Single(context.Remote);
        Assert.Equal(("a", 4 * GiB, 1 * GiB), (remote.Worker, remote.FreeBytes, remote.CapacityBytes));
        Assert.Equal(
            ["rpc worker 'b' (10.0.0.3:50052): does not answer: connect: Connection refused", "rpc worker 'c' (10.0.0.4:50052): in use by big"],
            context.RemoteSkipped);
    }
}

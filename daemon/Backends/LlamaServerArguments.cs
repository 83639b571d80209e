using System.Globalization;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// llama-server's argv for one planned load: placement, slots and KV cache from the plan, flash attention from the model,
/// then the backend's and the model's extra arguments (which --check keeps from setting any of those). Each of the
/// plan's <c>--parallel</c> slots gets a KV cache of its own (<c>--no-kv-unified</c>), so <c>--ctx-size</c> is slots ×
/// the per-request context.
/// </summary>
internal static class LlamaServerArguments
{
    public static IReadOnlyList<string> Build(BackendStart start, int port)
    {
        var plan = start.Plan;
        var args = new List<string>
        {
            "--model", start.Model.Source,
            "--host", "127.0.0.1",
            "--port", Invariant(port),
            "--ctx-size", Invariant(plan.TotalContextLength),
            "--n-gpu-layers", Invariant(plan.GpuLayers),
            "--parallel", Invariant(plan.Parallel),
            "--no-kv-unified",
            "--cache-type-k", KvCacheType.NameOf(plan.Estimate.CacheType.K),
            "--cache-type-v", KvCacheType.NameOf(plan.Estimate.CacheType.V),
            "--flash-attn", FlashAttnValue(start.Model.FlashAttn),
            "--alias", start.Model.Name,
        };
        if (plan.Remote.Count > 0)
        {
            args.AddRange(RemoteSplit(plan));
        }
        else if (plan.TensorSplit is { Count: > 1 } split)
        {
            args.AddRange(["--split-mode", "layer", "--tensor-split", string.Join(",", split.Select(f => f.ToString("0.####", CultureInfo.InvariantCulture))), "--main-gpu", "0"]);
        }

        args.AddRange(start.Backend.ExtraArgs);
        args.AddRange(start.Model.ExtraArgs);
        return args;
    }

    /// <summary>
    /// A split across RPC workers: <c>--rpc</c> lists each worker once, in layer order; llama.cpp numbers their devices
    /// RPC0, RPC1… in that order, all of each worker's devices counting. <c>--device</c> names the plan's devices in layer
    /// order (the local GPUs, CUDA0… under CUDA_VISIBLE_DEVICES, then the remote ones) and <c>--tensor-split</c> gives
    /// each its whole layer count, which llama.cpp turns into the same boundaries exactly (fractions would round).
    /// </summary>
    public static IReadOnlyList<string> RemoteSplit(LoadPlan plan)
    {
        var workers = plan.Remote.Select(r => r.Device).DistinctBy(d => d.Worker).ToList();
        var firstDevice = new Dictionary<string, int>(StringComparer.Ordinal);
        var next = 0;
        foreach (var worker in workers)
        {
            firstDevice[worker.Worker] = next;
            next += worker.WorkerDevices;
        }

        var local = plan.Estimate.Gpus.Take(plan.GpuIndices.Count).Select(s => s.Layers + (s.HasOutput ? 1 : 0));
        var devices = plan.GpuIndices.Select((_, i) => $"CUDA{Invariant(i)}").Concat(plan.Remote.Select(r => $"RPC{Invariant(firstDevice[r.Device.Worker] + r.Device.Index)}"));
        List<string> args = ["--rpc", string.Join(",", workers.Select(w => w.Address)), "--device", string.Join(",", devices), "--split-mode", "layer"];
        if (plan.GpuIndices.Count + plan.Remote.Count > 1)
        {
            args.AddRange(["--tensor-split", string.Join(",", local.Concat(plan.Remote.Select(r => r.Layers)).Select(Invariant))]);
        }

        return args;
    }

    /// <summary>The request slots an argv gives llama-server: the last <c>--parallel</c>/<c>-np</c>, as its parser takes it.</summary>
    public static int Slots(IReadOnlyList<string> args) => ArgumentValues.LastInt(args, ["--parallel", "-np"]) ?? 1;

    /// <summary>The value llama-server's <c>--flash-attn</c> takes.</summary>
    public static string FlashAttnValue(FlashAttention flash) => flash switch
    {
        FlashAttention.On => "on",
        FlashAttention.Off => "off",
        _ => "auto",
    };

    /// <summary>CUDA_VISIBLE_DEVICES for the plan's GPUs; an empty value hides every GPU (CPU mode).</summary>
    public static string VisibleDevices(BackendStart start) => string.Join(",", start.Plan.GpuIndices.Select(Invariant));

    private static string Invariant<T>(T value) where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);
}

using System.Globalization;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Sizing;

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
        if (plan.TensorSplit is { Count: > 1 } split)
        {
            args.AddRange(["--split-mode", "layer", "--tensor-split", string.Join(",", split.Select(f => f.ToString("0.####", CultureInfo.InvariantCulture))), "--main-gpu", "0"]);
        }

        args.AddRange(start.Backend.ExtraArgs);
        args.AddRange(start.Model.ExtraArgs);
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

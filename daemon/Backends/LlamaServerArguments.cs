using System.Globalization;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>llama-server's argv for one planned load: placement from the plan, then the backend's and the model's extra arguments.</summary>
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
            "--ctx-size", Invariant(plan.ContextLength),
            "--n-gpu-layers", Invariant(plan.GpuLayers),
            "--parallel", "1",
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

    /// <summary>CUDA_VISIBLE_DEVICES for the plan's GPUs; an empty value hides every GPU (CPU mode).</summary>
    public static string VisibleDevices(BackendStart start) => string.Join(",", start.Plan.GpuIndices.Select(Invariant));

    private static string Invariant<T>(T value) where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);
}

using System.CommandLine;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>The placement options <c>plan</c> and <c>load</c> share, with the same names and checks.</summary>
internal static class LoadOptions
{
    public static Option<uint> Context() => new("--ctx") { Description = "Context length one request may use, in tokens (default: configured, else the model's own)" };

    public static Option<uint> Parallel() => new("--parallel") { Description = "Requests served at once, each with --ctx tokens of KV cache (default: configured)" };

    public static Option<string?> CacheType() => new("--cache-type") { Description = "KV cache type for K and V: f16, q8_0, q4_0, ... (default: configured)" };

    public static Option<uint?> Gpu() => new("--gpu") { Description = "Preferred GPU index" };

    public static Option<string?> Layers()
    {
        var option = new Option<string?>("--layers") { Description = "Layers to offload to the GPU: a number or 'auto' (default: configured)" };
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string?>();
            if (value is not null && value != "auto" && !uint.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                result.AddError($"--layers: '{value}' is not 'auto' or a number of layers");
            }
        });
        return option;
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// A generic backend's launch for one load: its command and env with the placeholders filled in from the model and the
/// plan (<c>${GPUS}</c> and CUDA_VISIBLE_DEVICES are the plan's GPU indices, so the server sees only those), its model
/// source readable when it is a path, and the plan's memory limit.
/// </summary>
internal static partial class GenericCommandLine
{
    public const string Host = "127.0.0.1";

    public static BackendLaunch Build(BackendStart start, GenericCommand generic, int port)
    {
        var gpus = string.Join(',', start.Plan.GpuIndices);
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["HOST"] = Host,
            ["MODEL_PATH"] = start.Model.Source,
            ["MODEL_NAME"] = start.Model.Name,
            ["CTX"] = start.Plan.ContextLength.ToString(CultureInfo.InvariantCulture),
            ["GPUS"] = gpus,
        };
        string Expand(string template) => Placeholder().Replace(template, m => values.TryGetValue(m.Groups["name"].Value, out var value)
            ? value
            : throw new BackendStartException($"{start.Model.Name}: unknown placeholder {m.Value} in the command of [backends.{start.Model.BackendKey}]"));

        var environment = start.Backend.Environment.ToDictionary(e => e.Key, e => Expand(e.Value), StringComparer.Ordinal);
        environment["CUDA_VISIBLE_DEVICES"] = gpus;
        return new BackendLaunch
        {
            UnitName = start.UnitName,
            Model = start.Model.Name,
            ExecPath = generic.Command[0],
            Arguments = [.. generic.Command.Skip(1).Select(Expand), .. start.Model.ExtraArgs],
            Environment = environment,
            GpuIndices = start.Plan.GpuIndices,
            ReadOnlyPaths = Path.IsPathFullyQualified(start.Model.Source) ? [start.Model.Source] : [],
            MemoryMaxBytes = BackendMemoryLimit.For(start.Plan),
        };
    }

    [GeneratedRegex(@"\$\{(?<name>[^}$]*)\}")]
    private static partial Regex Placeholder();
}

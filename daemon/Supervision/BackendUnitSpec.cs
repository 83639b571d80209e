using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// The sandbox a backend runs in under systemd: a <see cref="TransientUnitSpec"/> built from a <see cref="BackendLaunch"/>.
/// It may open only the /dev/nvidia* nodes of its GPUs, runs as a dynamic user unless it must write somewhere, and sees
/// the whole file system read-only, home directories hidden unless its program or model lives there.
/// </summary>
internal static class BackendUnitSpec
{
    private static readonly string[] HomePrefixes = ["/home/", "/root/", "/run/user/"];

    /// <param name="gpus">The GPUs NVML sees now, for the device node of each assigned index.</param>
    /// <param name="searchPath">PATH, for an executable configured by name only.</param>
    /// <param name="owner">The starting ullmd's <see cref="BackendOwner.Id"/>, marked on the unit; null for no mark.</param>
    public static TransientUnitSpec From(BackendLaunch launch, IReadOnlyList<GpuDevice> gpus, string? searchPath, string? owner = null)
    {
        var executable = ResolveExecutable(launch.ExecPath, searchPath);
        var environment = launch.Environment.Select(e => $"{e.Key}={e.Value}").ToList();
        if (launch.GpuIndices.Count > 0 && !launch.Environment.ContainsKey("CUDA_VISIBLE_DEVICES"))
        {
            environment.Add($"CUDA_VISIBLE_DEVICES={string.Join(',', launch.GpuIndices)}");
        }

        string[] visiblePaths = [executable, .. launch.ReadOnlyPaths, .. launch.ReadWritePaths];

        // A dynamic user cannot own what it writes across runs (its uid changes), so a backend with a writable store
        // runs as root, still with the file system read-only but for that store.
        var dynamicUser = launch.ReadWritePaths.Count == 0;
        var problems = SandboxPaths.Problems(
            [(executable, "executable"), .. launch.ReadOnlyPaths.Select(p => (p, "model")), .. launch.ReadWritePaths.Select(p => (p, "writable directory"))],
            dynamicUser);
        if (problems.Count > 0)
        {
            throw new SandboxPathException($"{launch.UnitName} would not start under systemd: {string.Join("; ", problems)}");
        }

        return new TransientUnitSpec
        {
            Description = $"unified-llm backend for {launch.Model}",
            ExecPath = executable,
            Arguments = [executable, .. launch.Arguments],
            Environment = environment,
            MemoryMaxBytes = launch.MemoryMaxBytes,
            AllowedDevices = DeviceNodes(launch, gpus),
            DynamicUser = dynamicUser,
            ReadOnlyPaths = launch.ReadOnlyPaths,
            ReadWritePaths = launch.ReadWritePaths,
            ProtectHome = visiblePaths.Any(p => HomePrefixes.Any(h => p.StartsWith(h, StringComparison.Ordinal))) ? "read-only" : "yes",
            StopTimeout = launch.StopTimeout,
            // A failed unit stays loaded until ullmd has read why and reset it; even one that failed while no ullmd
            // watched is found (and reset) at the next start.
            CollectMode = "inactive",
            SyslogIdentifier = launch.UnitName[..^UnitName.Suffix.Length],
            LogExtraFields = owner is null
                ? new Dictionary<string, string> { [BackendUnitDiscovery.ModelField] = launch.Model }
                : new Dictionary<string, string> { [BackendUnitDiscovery.ModelField] = launch.Model, [BackendOwner.Field] = owner },
        };
    }

    /// <summary>
    /// For <c>ullmd --check</c>: the sandbox problems (<see cref="SandboxPaths"/>) each configured model's backend would
    /// meet under the systemd supervisor, as "models.NAME: sentence".
    /// </summary>
    public static IEnumerable<string> CheckModels(UllmConfig config, string? searchPath)
    {
        foreach (var model in config.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            var backend = config.Backends.For(model);
            List<(string, string)> paths = [];
            try
            {
                paths.Add((ResolveExecutable(backend.Executable, searchPath), "executable"));
            }
            catch (InvalidOperationException)
            {
                // Not found on PATH: the load says so.
            }

            var writable = model.Backend == BackendKind.Ollama;
            if (model.Backend == BackendKind.LlamaCpp || (model.Backend is BackendKind.Vllm or BackendKind.Generic && Path.IsPathRooted(model.Source)))
            {
                paths.Add((model.Source, "model"));
            }

            foreach (var problem in SandboxPaths.Problems(paths, dynamicUser: !writable))
            {
                yield return $"models.{model.Name}: {problem}";
            }
        }
    }

    private static List<string> DeviceNodes(BackendLaunch launch, IReadOnlyList<GpuDevice> gpus)
    {
        var nodes = new List<string>();
        foreach (var index in launch.GpuIndices)
        {
            var device = gpus.FirstOrDefault(g => g.Index == index)
                ?? throw new InvalidOperationException($"{launch.UnitName}: GPU {index} is assigned but NVML does not see it now");
            nodes.AddRange(GpuDevicePaths.For(device).Where(n => !nodes.Contains(n)));
        }

        return nodes;
    }

    internal static string ResolveExecutable(string execPath, string? searchPath)
    {
        if (execPath.Contains('/', StringComparison.Ordinal))
        {
            return Path.GetFullPath(execPath);
        }

        foreach (var directory in (searchPath ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, execPath);
            if (File.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new InvalidOperationException($"backend executable '{execPath}' was not found in PATH ({searchPath}); configure its absolute path");
    }
}

/// <summary>A backend's program or files would be hidden or unreadable inside its unit's sandbox (<see cref="SandboxPaths"/>).</summary>
internal sealed class SandboxPathException(string message) : InvalidOperationException(message);

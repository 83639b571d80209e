using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The local-model endpoints of a build without the scheduler: configured models resolve (so routing and fallback chains
/// work), but serving one answers 503 saying why.
/// </summary>
internal sealed class SchedulerNotInBuild(ConfigHolder config) : IModelEndpoints
{
    public bool TryResolve(string model, out string canonicalName)
    {
        var match = config.Current.Models.Values.FirstOrDefault(m => m.Name == model || m.Aliases.Contains(model));
        canonicalName = match?.Name ?? "";
        return match is not null;
    }

    public ValueTask<ModelLease> AcquireAsync(string model, CancellationToken cancellationToken) =>
        ValueTask.FromException<ModelLease>(new ModelUnavailableException(503, MissingEngines.Scheduler));
}

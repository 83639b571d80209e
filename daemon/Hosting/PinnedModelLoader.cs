using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>Loads pinned models once ullmd runs, without holding up its start.</summary>
internal sealed class PinnedModelLoader(Scheduler scheduler) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => scheduler.LoadPinnedAsync(stoppingToken);
}

using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Adopts the backends a previous ullmd left running. Its start is awaited, and hosted services start in order with the
/// web server last, so adoption ends before pinned models load and before the first request can start a second copy.
/// When it fails, ullmd starts anyway and says so: models then load again on demand.
/// </summary>
internal sealed partial class BackendAdoption(Scheduler scheduler, ILogger<BackendAdoption> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await scheduler.AdoptAsync(cancellationToken);
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            LogFailed(e, e.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "Adopting the backends a previous ullmd left running failed: {Reason}; the units it had not reached are left as they are")]
    private partial void LogFailed(Exception e, string reason);
}

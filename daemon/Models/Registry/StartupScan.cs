namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>Scans the model files once when ullmd starts, so profiles are ready before the first request; logs what could not be read.</summary>
internal sealed class StartupScan(ModelRegistry registry, ILogger<StartupScan> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var summary = await registry.ScanAsync(stoppingToken);
            logger.LogInformation(
                "Model scan: {Files} file(s), {Added} added, {Updated} updated, {Unchanged} unchanged, {Removed} removed",
                summary.FilesSeen,
                summary.Added,
                summary.Updated,
                summary.Unchanged,
                summary.Removed);
            foreach (var error in summary.Errors)
            {
                logger.LogWarning("Model file {Path} cannot be used: {Error}", error.Path, error.Message);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            logger.LogError("Model scan failed: {Error}; 'ullmctl scan' tries again", e.Message);
        }
    }
}

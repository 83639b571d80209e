using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// Deletes stored responses older than <c>[responses] retention_days</c> at start and then every hour. Reads already
/// skip expired rows, so the hour between rounds never shows one.
/// </summary>
internal sealed class ResponseRetention(ResponseStore responses, ConfigHolder config, TimeProvider time, ILogger<ResponseRetention> logger)
    : RetentionService(time, logger, "stored response(s)", "the stored responses")
{
    protected override int RetentionDays => config.Current.Responses.RetentionDays;

    protected override Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        responses.DeleteOlderThanAsync(cutoff, cancellationToken);
}

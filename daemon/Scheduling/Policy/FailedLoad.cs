using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>What a failed load leaves: the model's backoff after it, and the text of its failure event.</summary>
internal sealed record FailedLoadVerdict(LoadBackoff Backoff, string Published);

/// <summary>
/// Which failed loads count towards a model's backoff. Only a backend that failed to start does: refusals (no room, a
/// pinned group member) end as soon as the other models change, and are cheap to ask again; a load ended by ullmd
/// stopping says nothing about the model. A failure that starts a backoff says until when.
/// </summary>
internal static class FailedLoad
{
    /// <summary>
    /// A load of a model backing off as <paramref name="backoff"/> failed with <paramref name="failure"/> at
    /// <paramref name="now"/>; <paramref name="backendFailedToStart"/> when it had got as far as loading its backend.
    /// </summary>
    public static FailedLoadVerdict Decide(LoadBackoff backoff, bool backendFailedToStart, LeaseFailure failure, DateTimeOffset now, SchedulerOptions options)
    {
        if (!backendFailedToStart || failure.Kind == LeaseFailureKind.ShuttingDown)
        {
            return new FailedLoadVerdict(backoff, failure.Reason);
        }

        var next = backoff.Failed(now, failure.Reason, options);
        var published = next.Until is { } until
            ? $"{failure.Reason}; loads on demand back off until {until.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} UTC after {next.Failures} failures"
            : failure.Reason;
        return new FailedLoadVerdict(next, published);
    }
}

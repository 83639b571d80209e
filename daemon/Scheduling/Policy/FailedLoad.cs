using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>How far a failed load got.</summary>
internal enum LoadFailureStage
{
    /// <summary>Refused or failed before a backend was asked to start (no room, a pinned group member, no driver).</summary>
    BeforeBackend,

    /// <summary>The model's files could not be downloaded.</summary>
    Download,

    /// <summary>A backend was started and failed to become ready.</summary>
    Backend,
}

/// <summary>What a failed load leaves: the model's backoff after it, and the text of its failure event.</summary>
internal sealed record FailedLoadVerdict(LoadBackoff Backoff, string Published);

/// <summary>
/// Which failed loads count towards a model's backoff: a backend that failed to start and a download that failed do;
/// refusals (no room, a pinned group member) end as soon as the other models change, and are cheap to ask again; a load
/// ended by ullmd stopping says nothing about the model. A backend's failure that starts a backoff says until when; a
/// download's says only why (the download's own error names the source).
/// </summary>
internal static class FailedLoad
{
    /// <summary>
    /// A load of a model backing off as <paramref name="backoff"/> failed at <paramref name="stage"/> with
    /// <paramref name="failure"/> at <paramref name="now"/>.
    /// </summary>
    public static FailedLoadVerdict Decide(LoadBackoff backoff, LoadFailureStage stage, LeaseFailure failure, DateTimeOffset now, SchedulerOptions options)
    {
        if (stage == LoadFailureStage.BeforeBackend || failure.Kind == LeaseFailureKind.ShuttingDown)
        {
            return new FailedLoadVerdict(backoff, failure.Reason);
        }

        var next = backoff.Failed(now, failure.Reason, options);
        if (stage == LoadFailureStage.Download)
        {
            return new FailedLoadVerdict(next, failure.Reason);
        }

        var published = next.Until is { } until
            ? $"{failure.Reason}; loads on demand back off until {until.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} UTC after {next.Failures} failures"
            : failure.Reason;
        return new FailedLoadVerdict(next, published);
    }
}

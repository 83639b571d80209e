using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// A local model cannot serve this request: 429 (queue full, with <see cref="RetryAfter"/>), 503 (load failed or no
/// capacity; the message carries the planner's or the backend's reason), 404 (not configured).
/// </summary>
internal sealed class ModelUnavailableException(int statusCode, string message, TimeSpan? retryAfter = null) : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>The scheduler's refusal as the client sees it over HTTP.</summary>
    public static ModelUnavailableException From(LeaseFailure failure) => new(StatusOf(failure.Kind), failure.Reason, failure.RetryAfter);

    public static int StatusOf(LeaseFailureKind kind) => kind switch
    {
        LeaseFailureKind.UnknownModel => 404,
        LeaseFailureKind.BadArgument => 400,
        LeaseFailureKind.Conflict or LeaseFailureKind.NotLoaded => 409,
        LeaseFailureKind.QueueFull => 429,
        _ => 503,
    };
}

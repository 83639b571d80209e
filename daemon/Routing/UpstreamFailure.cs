namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// An upstream failed before anything reached the client. <see cref="Retryable"/>: another target may serve the request
/// (connect error, timeout, 5xx, 429, 529); otherwise the upstream's answer is final (e.g. 400 for a bad request).
/// </summary>
internal sealed class UpstreamFailure(int statusCode, string message, bool retryable, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The status the client sees if no other target serves it: 502 connect/5xx, 504 timeout, or the upstream's 4xx.</summary>
    public int StatusCode { get; } = statusCode;

    public bool Retryable { get; } = retryable;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>Failures of the upstream itself count against its breaker; its verdict on a bad request does not.</summary>
    public bool CountsAgainstBreaker => Retryable;
}

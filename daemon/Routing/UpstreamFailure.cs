using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// An upstream failed before anything reached the client. <see cref="Retryable"/>: another target may serve the request
/// (connect error, timeout, 5xx, 429, 529); otherwise the upstream's answer is final (e.g. 400 for a bad request).
/// <see cref="Answered"/>: the upstream itself answered with an error (a status, or an error object), as opposed to a
/// failed connection or a timeout.
/// </summary>
internal sealed class UpstreamFailure(
    int statusCode, string message, bool retryable, TimeSpan? retryAfter = null, Exception? inner = null, bool answered = false, bool? countsAgainstBreaker = null)
    : Exception(message, inner)
{
    /// <summary>The status the client sees if no other target serves it: 502 connect/5xx, 504 timeout, or the upstream's 4xx.</summary>
    public int StatusCode { get; } = statusCode;

    public bool Retryable { get; } = retryable;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    public bool Answered { get; } = answered;

    /// <summary>Failures of the upstream itself count against its breaker; its verdict on a bad request does not.</summary>
    public bool CountsAgainstBreaker { get; } = countsAgainstBreaker ?? retryable;

    /// <summary>The same failure with any credential taken out of its message (<paramref name="secret"/>, and anything shaped like one).</summary>
    public UpstreamFailure Redacted(string? secret) => With(SecretRedaction.Redact(Message, secret), CountsAgainstBreaker);

    public UpstreamFailure CountingAgainstBreaker(bool counts) => With(Message, counts);

    private UpstreamFailure With(string message, bool counts) =>
        message == Message && counts == CountsAgainstBreaker
            ? this
            : new UpstreamFailure(StatusCode, message, Retryable, RetryAfter, InnerException, Answered, counts);
}

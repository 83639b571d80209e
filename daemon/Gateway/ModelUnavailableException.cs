namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// A local model cannot serve this request: 429 (queue full, with <see cref="RetryAfter"/>), 503 (load failed or no
/// capacity; the message carries the planner's or the backend's reason), 404 (not configured).
/// </summary>
internal sealed class ModelUnavailableException(int statusCode, string message, TimeSpan? retryAfter = null) : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public TimeSpan? RetryAfter { get; } = retryAfter;
}

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>A request that ends with an OpenAI error object: the status, what is wrong, and the field when one is to blame.</summary>
internal sealed class GatewayException(int statusCode, string message, string? param = null, string? code = null, TimeSpan? retryAfter = null)
    : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public string? Param { get; } = param;

    public string? Code { get; } = code;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>OpenAI's error "type" for this status.</summary>
    public string Type => StatusCode switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        502 or 504 => "upstream_error",
        503 => "service_unavailable",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    public static GatewayException BadField(string field, string message) => new(400, $"'{field}': {message}", field, "invalid_value");
}

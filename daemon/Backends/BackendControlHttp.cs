namespace UnifiedLlm.Daemon.Backends;

/// <summary>The HTTP client a driver asks its backends' readiness, health and control endpoints with.</summary>
internal static class BackendControlHttp
{
    /// <summary>
    /// Every request closes its connection: these requests come seconds apart, and an idle keep-alive connection left
    /// open to a llama-server makes its exit on SIGTERM take about 100 ms instead of a few.
    /// </summary>
    public static HttpClient Create(TimeSpan timeout) => new(new SocketsHttpHandler { UseProxy = false })
    {
        Timeout = timeout,
        DefaultRequestHeaders = { ConnectionClose = true },
    };
}

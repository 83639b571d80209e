namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// A pool of HTTP connections: one shared by the cloud providers, and one for each local backend, which the scheduler
/// closes once the backend is drained and before it is stopped. An idle keep-alive connection left open to a
/// llama-server makes its exit on SIGTERM take about 100 ms instead of a few, and every unload or eviction waits for it.
/// </summary>
internal sealed class UpstreamConnections : IDisposable
{
    private readonly HttpMessageInvoker invoker;

    public UpstreamConnections(TimeSpan connectTimeout)
    {
        // An invoker, not an HttpClient: every request has its own timeouts already, and HttpClient would link one more
        // cancellation source per request for a timeout and a CancelPendingRequests that are never used.
        invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectTimeout = connectTimeout,
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        });
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        invoker.SendAsync(request, cancellationToken);

    /// <summary>Closes the idle connections; one still in use closes when its response is disposed.</summary>
    public void Dispose() => invoker.Dispose();
}

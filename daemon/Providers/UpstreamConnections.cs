namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// A pool of HTTP connections: one shared by the cloud providers, and one for each local backend, which the scheduler
/// closes once the backend is drained and before it is stopped. An idle keep-alive connection left open to a
/// llama-server makes its exit on SIGTERM take about 100 ms instead of a few, and every unload or eviction waits for it.
/// </summary>
internal sealed class UpstreamConnections : IDisposable
{
    private readonly HttpMessageInvoker invoker;

    private readonly bool localBackend;

    private UpstreamConnections(SocketsHttpHandler pool, RequestAdmission? admission, bool localBackend)
    {
        Admission = admission;
        this.localBackend = localBackend;
        // An invoker, not an HttpClient: every request has its own timeouts already, and HttpClient would link one more
        // cancellation source per request for a timeout and a CancelPendingRequests that are never used.
        invoker = new HttpMessageInvoker(pool);
    }

    /// <summary>The bound on concurrent requests to a local backend; null for the providers' pool.</summary>
    public RequestAdmission? Admission { get; }

    /// <summary>
    /// Whether a streamed request asks for its connection to be closed afterwards. llama-server closes a connection once
    /// it has streamed a response on it, so a pooled one would be dead when the next request takes it.
    /// </summary>
    public bool CloseAfterStreams => localBackend;

    public static UpstreamConnections ForProviders(TimeSpan connectTimeout) => new(Pool(connectTimeout, localBackend: false), null, localBackend: false);

    public static UpstreamConnections ForBackend(TimeSpan connectTimeout, RequestAdmission admission) => ForBackend(BackendPool(connectTimeout), admission);

    /// <summary>Serves a backend from <paramref name="pool"/>, which it disposes; made by <see cref="BackendPool"/> before the backend was ready.</summary>
    public static UpstreamConnections ForBackend(SocketsHttpHandler pool, RequestAdmission admission) => new(pool, admission, localBackend: true);

    /// <summary>
    /// The connections to a backend about to start, before its request slots are known: its driver probes readiness
    /// through them, so the first request finds the connection of the probe that saw it ready still open.
    /// </summary>
    public static SocketsHttpHandler BackendPool(TimeSpan connectTimeout) => Pool(connectTimeout, localBackend: true);

    /// <summary>
    /// Whether a request that failed this way before any response may be sent once more, on another connection. A pooled
    /// connection the upstream closed a moment before fails just so, and the upstream never saw the request; but neither
    /// can it be told apart from an upstream that took the request and then dropped the connection. To a local backend
    /// the cost of a second try is some compute; to a provider it may be a second bill, so there only a failed connect,
    /// which sent nothing, is tried again.
    /// </summary>
    public bool MayResend(HttpRequestException failure) => localBackend || failure.HttpRequestError == HttpRequestError.ConnectionError;

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        invoker.SendAsync(request, cancellationToken);

    /// <summary>Closes the idle connections; one still in use closes when its response is disposed.</summary>
    public void Dispose() => invoker.Dispose();

    private static SocketsHttpHandler Pool(TimeSpan connectTimeout, bool localBackend) => new()
    {
        ConnectTimeout = connectTimeout,
        AllowAutoRedirect = false,
        UseCookies = false,
        // llama-server closes a keep-alive connection idle for 5 s without a word; ours go first.
        PooledConnectionIdleTimeout = localBackend ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(30),
        // A response left unread (the client went away mid-stream) closes its connection. By default the handler
        // would read up to 1 MiB of the rest to keep the connection, and the backend would go on generating for a
        // client that is gone.
        MaxResponseDrainSize = 0,
    };
}

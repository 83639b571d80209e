using System.Net;
using Yarp.ReverseProxy.Forwarder;

namespace UnifiedLlm.Bench.Relay;

/// <summary>
/// YARP's <see cref="IHttpForwarder"/> as the whole proxy: Kestrel in, the request and answer streamed through with
/// YARP's pooled header copying, nothing else. Measured beside <see cref="HttpClientRelay"/> (bench/run.sh) to decide
/// whether ullmd's hand-written relay should give way to it.
/// </summary>
internal static class YarpRelay
{
    public static async Task RunAsync(int port, Uri upstreamV1)
    {
        var app = Relays.Build(port, services => services.AddHttpForwarder());
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
        });
        var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        var prefix = upstreamV1.GetLeftPart(UriPartial.Authority) + "/";
        // On a failure YARP answers 502/504 itself; the bench counts those as failed requests.
        app.MapPost("/v1/chat/completions", async context =>
            await forwarder.SendAsync(context, prefix, invoker, ForwarderRequestConfig.Empty, HttpTransformer.Empty));
        await app.RunAsync();
    }
}

using System.Net;
using System.Net.Http.Headers;

namespace UnifiedLlm.Bench.Relay;

/// <summary>
/// The least a .NET proxy does: Kestrel in, HttpClient out, the body relayed as bytes — no parsing, routing, audit or
/// metrics. Run as a process of its own, it shows how much of ullmd's cost is the framework's and how much is ullmd's
/// own work.
/// </summary>
internal static class HttpClientRelay
{
    public static async Task RunAsync(int port, Uri upstreamV1)
    {
        var app = Relays.Build(port);
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        var target = new Uri(upstreamV1, "chat/completions");
        app.MapPost("/v1/chat/completions", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new ByteArrayContent(body.ToArray()) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            context.Response.ContentLength = response.Content.Headers.ContentLength;
            await using var content = await response.Content.ReadAsStreamAsync(context.RequestAborted);
            await content.CopyToAsync(context.Response.Body, context.RequestAborted);
        });
        await app.RunAsync();
    }
}

/// <summary>What both relays share: a slim Kestrel on loopback, without logging.</summary>
internal static class Relays
{
    public static WebApplication Build(int port, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        services?.Invoke(builder.Services);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        return builder.Build();
    }
}

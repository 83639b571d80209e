using System.Net;
using System.Net.Http.Headers;

namespace UnifiedLlm.Bench;

/// <summary>
/// The least a .NET proxy does: Kestrel in, HttpClient out, the body relayed as bytes — no parsing, routing, audit or
/// metrics. Run as a process of its own (the bench starts itself with --relay), it shows how much of ullmd's cost is
/// the framework's and how much is ullmd's own work.
/// </summary>
internal static class BareRelay
{
    public const string Name = "bare .NET relay";

    public static async Task RunAsync(int port, Uri upstreamV1)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
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

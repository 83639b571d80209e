using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// An OpenAI-compatible /v1/chat/completions on a unix socket answering a fixed completion in the real response format,
/// so that the MCP chat tool's request body and its summary of a known answer can be checked exactly. Keeps each request body.
/// </summary>
internal sealed class FakeChatGateway : IAsyncDisposable
{
    public const string Answer = """
        {"id":"chatcmpl-1","object":"chat.completion","created":1764028800,"model":"tiny",
         "choices":[{"index":0,"message":{"role":"assistant","content":"Hello from tiny"},"finish_reason":"stop"}],
         "usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}
        """;

    private readonly WebApplication app;
    private readonly TempDirectory dir;

    private FakeChatGateway(WebApplication app, TempDirectory dir)
    {
        this.app = app;
        this.dir = dir;
    }

    public string Socket => dir.File("openai.sock");

    public List<JsonDocument> Requests { get; } = [];

    public static async Task<FakeChatGateway> StartAsync()
    {
        var dir = new TempDirectory("ullm-fake-gateway");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(dir.File("openai.sock"), o => o.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var gateway = new FakeChatGateway(app, dir);
        app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            lock (gateway.Requests)
            {
                gateway.Requests.Add(body);
            }

            var model = body.RootElement.GetProperty("model").GetString();
            if (model != "tiny")
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                await context.Response.WriteAsJsonAsync(new { error = new { message = $"model '{model}' not found", type = "invalid_request_error" } });
                return;
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Answer);
        });
        await app.StartAsync();
        return gateway;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        foreach (var request in Requests)
        {
            request.Dispose();
        }

        dir.Dispose();
    }
}

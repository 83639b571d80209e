using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// A real HTTP server on loopback playing an upstream (OpenAI-compatible or Anthropic) with a handler the test sets,
/// recording every request it got and whether the gateway aborted it.
/// </summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication app;

    private FakeUpstream(WebApplication app) => this.app = app;

    public Func<HttpContext, JsonObject, Task> Handler { get; set; } = (c, _) => WriteJsonAsync(c, Completion("hello"));

    public ConcurrentQueue<(string Path, IReadOnlyDictionary<string, string> Headers, JsonObject Body)> Requests { get; } = new();

    /// <summary>Completes when a request's connection was aborted by the client (the gateway).</summary>
    public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Uri BaseAddress { get; private set; } = null!;

    public Uri V1 => new(BaseAddress, "v1");

    public static async Task<FakeUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var upstream = new FakeUpstream(app);
        app.Run(async context =>
        {
            var body = await JsonNode.ParseAsync(context.Request.Body) as JsonObject ?? [];
            upstream.Requests.Enqueue((context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), body));
            context.RequestAborted.Register(() => upstream.Aborted.TrySetResult());
            try
            {
                await upstream.Handler(context, body);
            }
            catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
            {
            }
        });
        await app.StartAsync();
        upstream.BaseAddress = new Uri(app.Urls.First() + "/");
        return upstream;
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(stop.Token);
        await app.DisposeAsync();
    }

    public static JsonObject Completion(string text, string model = "upstream-model", int prompt = 5, int completion = 2) => new()
    {
        ["id"] = "chatcmpl-1",
        ["object"] = "chat.completion",
        ["created"] = 1,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text },
            ["finish_reason"] = "stop",
        }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion },
    };

    public static JsonObject Chunk(string? content, string? finish = null, bool role = false)
    {
        var delta = new JsonObject();
        if (role)
        {
            delta["role"] = "assistant";
            delta["content"] = "";
        }

        if (content is not null)
        {
            delta["content"] = content;
        }

        return new JsonObject
        {
            ["id"] = "chatcmpl-1",
            ["object"] = "chat.completion.chunk",
            ["created"] = 1,
            ["model"] = "upstream-model",
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
    }

    public static JsonObject UsageChunk(int prompt, int completion) => new()
    {
        ["id"] = "chatcmpl-1",
        ["object"] = "chat.completion.chunk",
        ["created"] = 1,
        ["model"] = "upstream-model",
        ["choices"] = new JsonArray(),
        ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion },
    };

    public static async Task WriteJsonAsync(HttpContext context, JsonNode body, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString());
    }

    public static async Task StartSseAsync(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        await context.Response.StartAsync();
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public static async Task SendAsync(HttpContext context, JsonNode data, string? eventName = null)
    {
        var text = (eventName is null ? "" : $"event: {eventName}\n") + $"data: {data.ToJsonString()}\n\n";
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    public static async Task SendRawAsync(HttpContext context, string text)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>A stream of the given content pieces, then a finish chunk, usage and [DONE].</summary>
    public static async Task StreamAsync(HttpContext context, params string[] pieces)
    {
        await StartSseAsync(context);
        await SendAsync(context, Chunk(null, role: true));
        foreach (var piece in pieces)
        {
            await SendAsync(context, Chunk(piece));
        }

        await SendAsync(context, Chunk(null, "stop"));
        await SendAsync(context, UsageChunk(5, pieces.Length));
        await SendRawAsync(context, "data: [DONE]\n\n");
    }

    public static string Json(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}

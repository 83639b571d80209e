using System.Net;
using System.Text;

namespace UnifiedLlm.Bench;

/// <summary>
/// An OpenAI-compatible upstream for streams: a fixed completion, a stream of fixed chunks sent back to back, or, for the
/// model <see cref="SlowModel"/>, a stream of <see cref="SlowChunks"/> chunks one a second (the open-stream memory
/// measure). Whole answers at pace come from nginx (<see cref="NginxProxy.StartStub"/>), which answers faster.
/// </summary>
internal static class StubUpstream
{
    public const int StreamChunks = 32;

    public const string SlowModel = "slow";

    public const int SlowChunks = 31;

    public const string CompletionJson =
        """{"id":"c","object":"chat.completion","created":1,"model":"stub","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}""";

    private static readonly byte[] Completion = Encoding.UTF8.GetBytes(CompletionJson);

    private static readonly byte[] Chunk = Encoding.UTF8.GetBytes(
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"},\"finish_reason\":null}]}\n\n");

    private static readonly byte[] End = Encoding.UTF8.GetBytes(
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":32,\"total_tokens\":37}}\n\ndata: [DONE]\n\n");

    public static async Task<WebApplication> StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.MapPost("/v1/chat/completions", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            if (!body.Contains("\"stream\":true", StringComparison.Ordinal))
            {
                context.Response.ContentType = "application/json";
                await context.Response.Body.WriteAsync(Completion, context.RequestAborted);
                return;
            }

            context.Response.ContentType = "text/event-stream";
            var slow = body.Contains($"\"model\":\"{SlowModel}\"", StringComparison.Ordinal);
            for (var i = 0; i < (slow ? SlowChunks : StreamChunks); i++)
            {
                if (slow && i > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted);
                }

                await context.Response.Body.WriteAsync(Chunk, context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }

            await context.Response.Body.WriteAsync(End, context.RequestAborted);
        });
        await app.StartAsync();
        return app;
    }
}

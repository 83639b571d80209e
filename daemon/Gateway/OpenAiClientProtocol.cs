using System.Buffers;
namespace UnifiedLlm.Daemon.Gateway;

/// <summary>OpenAI's wire format: bodies and chunks pass through byte for byte; SSE "data:" events, then [DONE].</summary>
internal sealed class OpenAiClientProtocol : IClientProtocol
{
    public static OpenAiClientProtocol Instance { get; } = new();

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public NativeApi? Native => null;

    public Task WriteErrorAsync(HttpContext context, GatewayException error) => OpenAiErrors.WriteAsync(context, error, OpenAiErrors.Body(error));

    public Task WriteResponseAsync(HttpContext context, byte[] openAiBody) => ClientResponse.WriteJsonAsync(context, openAiBody);

    public Task BeginStreamAsync(HttpContext context) => ClientResponse.BeginEventStreamAsync(context);

    public void WriteChunk(HttpContext context, ReadOnlyMemory<byte> openAiChunk)
    {
        var writer = context.Response.BodyWriter;
        writer.Write(DataPrefix);
        writer.Write(openAiChunk.Span);
        writer.Write(EventEnd);
    }

    /// <summary>The end marker, into the response's buffer: it goes out with the response's own end, in one send.</summary>
    public Task EndStreamAsync(HttpContext context)
    {
        context.Response.BodyWriter.Write(Done);
        return Task.CompletedTask;
    }

    public Task FailStreamAsync(HttpContext context, GatewayException error) => this.WriteChunkAsync(context, OpenAiErrors.Body(error));
}

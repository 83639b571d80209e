using System.IO.Pipelines;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// How results reach the client: OpenAI's format as the upstream sent it, or translated to Anthropic's Messages API for
/// /v1/messages. The pipeline always works in OpenAI's format.
/// </summary>
internal interface IClientProtocol
{
    /// <summary>
    /// The request in the client's own API, for a target that speaks it natively (/v1/responses to a Responses API
    /// upstream), with the protocol that relays such a target's answer; null where every target gets the OpenAI request.
    /// </summary>
    NativeApi? Native { get; }

    Task WriteErrorAsync(HttpContext context, GatewayException error);

    Task WriteResponseAsync(HttpContext context, byte[] openAiBody);

    Task BeginStreamAsync(HttpContext context);

    /// <summary>One OpenAI chunk, into the response's buffer: it reaches the client with the next flush (<see cref="ClientStream"/>).</summary>
    void WriteChunk(HttpContext context, ReadOnlyMemory<byte> openAiChunk);

    Task EndStreamAsync(HttpContext context);

    /// <summary>Ends a stream that failed after content was sent: an error event and no end marker, so it cannot pass for success.</summary>
    Task FailStreamAsync(HttpContext context, GatewayException error);
}

/// <summary>Sends what a protocol wrote into a stream's buffer.</summary>
internal static class ClientStream
{
    public static ValueTask<FlushResult> FlushAsync(HttpContext context) => context.Response.BodyWriter.FlushAsync(context.RequestAborted);

    /// <summary>One OpenAI chunk, written and flushed at once.</summary>
    public static async Task WriteChunkAsync(this IClientProtocol protocol, HttpContext context, ReadOnlyMemory<byte> openAiChunk)
    {
        protocol.WriteChunk(context, openAiChunk);
        await FlushAsync(context);
    }
}

/// <summary>
/// A request a target that speaks <paramref name="Format"/> gets as it is (but for the model name), and the protocol that
/// relays that target's answer to the client.
/// </summary>
internal sealed record NativeApi(WireFormat Format, System.Text.Json.Nodes.JsonObject Body, IClientProtocol Protocol)
{
    /// <summary>Why the request cannot be translated for the other targets (then only a native one serves it); null when it can.</summary>
    public GatewayException? Untranslatable { get; init; }
}

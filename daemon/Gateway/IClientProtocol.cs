namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// How results reach the client: OpenAI's format as the upstream sent it, or translated to Anthropic's Messages API for
/// /v1/messages. The pipeline always works in OpenAI's format.
/// </summary>
internal interface IClientProtocol
{
    Task WriteErrorAsync(HttpContext context, GatewayException error);

    Task WriteResponseAsync(HttpContext context, byte[] openAiBody);

    Task BeginStreamAsync(HttpContext context);

    /// <summary>One OpenAI chunk, written and flushed at once.</summary>
    Task WriteChunkAsync(HttpContext context, ReadOnlyMemory<byte> openAiChunk);

    Task EndStreamAsync(HttpContext context);

    /// <summary>Ends a stream that failed after content was sent: an error event and no end marker, so it cannot pass for success.</summary>
    Task FailStreamAsync(HttpContext context, GatewayException error);
}

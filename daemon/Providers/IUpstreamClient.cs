namespace UnifiedLlm.Daemon.Providers;

/// <summary>Speaks one upstream wire format: OpenAI-compatible (local backends and such providers) or Anthropic's Messages API.</summary>
internal interface IUpstreamClient
{
    /// <summary>Sends the call and waits for the response headers; a failure is an <see cref="Routing.UpstreamFailure"/>.</summary>
    Task<UpstreamReply> SendAsync(UpstreamCall call, CancellationToken cancellationToken);
}

using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// One request to one upstream, over <paramref name="Connections"/>; the body (OpenAI's JSON) already names the upstream's
/// model (for the Responses API, in its own format). <paramref name="Name"/> is how errors name the upstream: the route target, never a local backend's port.
/// <paramref name="ForwardedRequestId"/>: set for a peer ullmd, which keeps the id and does not forward the request again.
/// </summary>
internal sealed record UpstreamCall(
    string Name, EndpointKind Kind, UpstreamEndpoints Endpoints, UpstreamConnections Connections, byte[] Body, bool Stream, string? ApiKey, string? ForwardedRequestId = null)
{
    /// <summary>The API the body is in: OpenAI's for <see cref="Kind"/>, or the Responses API's (sent to /v1/responses).</summary>
    public WireFormat Format { get; init; }
}

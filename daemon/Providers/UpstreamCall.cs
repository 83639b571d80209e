using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>One request to one upstream, over <paramref name="Connections"/>; the body (OpenAI's JSON) already names the upstream's model.</summary>
internal sealed record UpstreamCall(EndpointKind Kind, UpstreamEndpoints Endpoints, UpstreamConnections Connections, byte[] Body, bool Stream, string? ApiKey);

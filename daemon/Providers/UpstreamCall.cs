using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>One request to one upstream; the body (OpenAI's JSON) already names the upstream's model.</summary>
internal sealed record UpstreamCall(EndpointKind Kind, UpstreamEndpoints Endpoints, byte[] Body, bool Stream, string? ApiKey);

using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>One request to one upstream: <paramref name="V1Base"/> ends in "/v1/"; the body (OpenAI's JSON) already names the upstream's model.</summary>
internal sealed record UpstreamCall(EndpointKind Kind, Uri V1Base, byte[] Body, bool Stream, string? ApiKey);

using System.Runtime.CompilerServices;
using UnifiedLlm.Daemon.Gateway;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// The URIs requests to one upstream go to, parsed once per base address instead of once per request. Entries live as
/// long as their base address does (a provider's until the config is replaced, a backend's until it is unloaded).
/// </summary>
internal sealed class UpstreamEndpoints
{
    private static readonly ConditionalWeakTable<Uri, UpstreamEndpoints> ByV1Base = new();
    private static readonly ConditionalWeakTable<Uri, UpstreamEndpoints> ByRoot = new();

    private readonly Uri[] byKind;

    private UpstreamEndpoints(Uri v1Base)
    {
        V1Base = v1Base;
        byKind = [.. Enum.GetValues<EndpointKind>().Select(kind => new Uri(v1Base, kind.Path()))];
        Messages = new Uri(v1Base, "messages");
        Responses = new Uri(v1Base, "responses");
    }

    public Uri V1Base { get; }

    /// <summary>Anthropic's Messages API.</summary>
    public Uri Messages { get; }

    /// <summary>OpenAI's Responses API, for an upstream that speaks it natively.</summary>
    public Uri Responses { get; }

    /// <summary>For a provider's base URL, which already ends in /v1/ (or a generic backend's API base).</summary>
    public static UpstreamEndpoints OfV1Base(Uri v1Base) => ByV1Base.GetValue(v1Base, static b => new UpstreamEndpoints(b));

    /// <summary>For a local backend's root address; its OpenAI API is below v1/.</summary>
    public static UpstreamEndpoints OfRoot(Uri root) => ByRoot.GetValue(root, static r => new UpstreamEndpoints(new Uri(r, "v1/")));

    public Uri For(EndpointKind kind) => byKind[(int)kind];
}

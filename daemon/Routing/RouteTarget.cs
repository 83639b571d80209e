using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// One place a request can be served: a local model (<see cref="Provider"/> and <see cref="Peer"/> null; <see cref="Model"/>
/// its canonical name), a provider's model, or a model on a peer ullmd. <see cref="Name"/> is how it appears in audit
/// rows, metrics and errors.
/// </summary>
internal sealed record RouteTarget(string Name, string Model, ProviderConfig? Provider)
{
    private readonly string upstream = Provider is { } p ? p.Name : "local:" + Model;

    /// <summary>The peer ullmd that serves it; null for a local or provider target.</summary>
    public PeerConfig? Peer { get; init; }

    public bool IsLocal => Provider is null && Peer is null;

    /// <summary>A paid third party's model, as opposed to one of this fleet's ullmd hosts (this one or a peer).</summary>
    public bool IsProvider => Provider is not null;

    /// <summary>The upstream whose circuit breaker guards this target: the provider, the peer, or the local model.</summary>
    public string Upstream => Peer?.Upstream ?? upstream;

    /// <summary>
    /// How metrics label it: its name when the config defines it; for a provider's model the config does not list
    /// (asked for as <c>provider/anything</c>) <c>provider/*</c>, so that clients cannot add series.
    /// </summary>
    public string Label { get; init; } = Name;

    /// <summary>Marginal cost per million tokens, in and out; local models and peers count as free.</summary>
    public double CostPerMillion => Provider is { } p ? p.CostPerMillionInputTokens + p.CostPerMillionOutputTokens : 0;

    public static RouteTarget Local(string model) => new(model, model, null);

    public static RouteTarget Cloud(ProviderConfig provider, string model) => new($"{provider.Name}/{model}", model, provider);

    /// <summary>A provider's model the config does not list, passed through as asked.</summary>
    public static RouteTarget Unlisted(ProviderConfig provider, string model) => Cloud(provider, model) with { Label = $"{provider.Name}/*" };

    /// <summary><paramref name="model"/> on <paramref name="peer"/>: named <c>model@peer</c> (neither a model nor a peer name has an '@').</summary>
    public static RouteTarget OnPeer(PeerConfig peer, string model) => new($"{model}@{peer.Name}", model, null) { Peer = peer };
}

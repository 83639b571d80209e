using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// One place a request can be served: a local model (<see cref="Provider"/> null; <see cref="Model"/> its canonical name)
/// or a provider's model. <see cref="Name"/> is how it appears in audit rows, metrics and errors.
/// </summary>
internal sealed record RouteTarget(string Name, string Model, ProviderConfig? Provider)
{
    public bool IsLocal => Provider is null;

    /// <summary>The upstream whose circuit breaker guards this target: the provider, or the local model.</summary>
    public string Upstream { get; } = Provider is { } p ? p.Name : "local:" + Model;

    /// <summary>
    /// How metrics label it: its name when the config defines it; for a provider's model the config does not list
    /// (asked for as <c>provider/anything</c>) <c>provider/*</c>, so that clients cannot add series.
    /// </summary>
    public string Label { get; init; } = Name;

    /// <summary>Marginal cost per million tokens, in and out; local models count as free.</summary>
    public double CostPerMillion => Provider is { } p ? p.CostPerMillionInputTokens + p.CostPerMillionOutputTokens : 0;

    public static RouteTarget Local(string model) => new(model, model, null);

    public static RouteTarget Cloud(ProviderConfig provider, string model) => new($"{provider.Name}/{model}", model, provider);

    /// <summary>A provider's model the config does not list, passed through as asked.</summary>
    public static RouteTarget Unlisted(ProviderConfig provider, string model) => Cloud(provider, model) with { Label = $"{provider.Name}/*" };
}

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

    /// <summary>Marginal cost per million tokens, in and out; local models count as free.</summary>
    public double CostPerMillion => Provider is { } p ? p.CostPerMillionInputTokens + p.CostPerMillionOutputTokens : 0;

    public static RouteTarget Local(string model) => new(model, model, null);

    public static RouteTarget Cloud(ProviderConfig provider, string model) => new($"{provider.Name}/{model}", model, provider);
}

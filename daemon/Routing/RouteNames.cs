using System.Collections.Frozen;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// How names resolve under one config: local models and their aliases, then <c>provider/model</c>, then bare names a
/// provider lists (the first provider by name). Every name the config defines is resolved once, here; others (a
/// provider's unlisted model, a local model the config does not name) per request.
/// </summary>
internal sealed class RouteNames
{
    private readonly FrozenDictionary<string, RouteTarget> targets;

    public RouteNames(UllmConfig config)
    {
        Config = config;
        var names = new Dictionary<string, RouteTarget>(StringComparer.Ordinal);
        foreach (var (name, model) in ModelNames.Of(config).Canonical)
        {
            names.Add(name, RouteTarget.Local(model));
        }

        var providers = config.Providers.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        foreach (var provider in providers)
        {
            foreach (var model in provider.Models)
            {
                names.TryAdd($"{provider.Name}/{model}", RouteTarget.Cloud(provider, model));
            }
        }

        foreach (var provider in providers)
        {
            foreach (var model in provider.Models.Where(m => ProviderPrefix(config, m) is null))
            {
                names.TryAdd(model, RouteTarget.Cloud(provider, model));
            }
        }

        targets = names.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public UllmConfig Config { get; }

    /// <summary>The target <paramref name="name"/> resolves to, or null; <paramref name="local"/> has the last word on local names.</summary>
    public RouteTarget? Resolve(string name, IModelEndpoints local)
    {
        if (targets.TryGetValue(name, out var target))
        {
            return target;
        }

        if (local.TryResolve(name, out var canonical))
        {
            return RouteTarget.Local(canonical);
        }

        return ProviderPrefix(Config, name) is { } provider ? RouteTarget.Unlisted(provider, name[(provider.Name.Length + 1)..]) : null;
    }

    /// <summary>The provider a <c>provider/model</c> name names, or null.</summary>
    private static ProviderConfig? ProviderPrefix(UllmConfig config, string name)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && slash < name.Length - 1 && config.Providers.TryGetValue(name[..slash], out var provider) ? provider : null;
    }
}

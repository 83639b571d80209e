using System.Collections.Frozen;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// Every name one config defines, resolved once to its target: local models and their aliases, then each provider's
/// listed models as <c>provider/model</c>, then as bare names (the first provider by name listing one). Names it does not
/// hold (a provider's unlisted model) are resolved per request.
/// </summary>
internal sealed class RouteNames
{
    private readonly FrozenDictionary<string, RouteTarget> targets;

    public RouteNames(UllmConfig config)
    {
        Config = config;
        var names = new Dictionary<string, RouteTarget>(StringComparer.Ordinal);
        foreach (var model in config.Models.Values)
        {
            var target = RouteTarget.Local(model.Name);
            foreach (var name in model.Aliases.Prepend(model.Name))
            {
                names.TryAdd(name, target);
            }
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

    public bool TryGet(string name, out RouteTarget target) => targets.TryGetValue(name, out target!);

    /// <summary>The provider a <c>provider/model</c> name names, or null.</summary>
    public static ProviderConfig? ProviderPrefix(UllmConfig config, string name)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && slash < name.Length - 1 && config.Providers.TryGetValue(name[..slash], out var provider) ? provider : null;
    }
}

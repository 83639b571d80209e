using System.Collections.Frozen;
using System.Runtime.CompilerServices;

namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// The one table of the names a local model answers to: its name and its aliases. A model's own name wins over another
/// model's alias, then the first alias claimed; the loader refuses a config where two models claim one name, naming both.
/// The gateway's router, the scheduler and the admin API all resolve through it (<see cref="Of"/>).
/// </summary>
internal sealed class ModelNames
{
    private static readonly ConditionalWeakTable<UllmConfig, ModelNames> PerConfig = [];

    private readonly FrozenDictionary<string, ModelConfig> models;

    /// <summary><paramref name="clash"/> hears of each name a second model claims: (that model, the name, its first owner).</summary>
    public ModelNames(IEnumerable<ModelConfig> configured, Action<ModelConfig, string, string>? clash = null)
    {
        var all = configured.ToList();
        var byName = new Dictionary<string, ModelConfig>(StringComparer.Ordinal);
        foreach (var model in all)
        {
            byName.TryAdd(model.Name, model);
        }

        foreach (var model in all)
        {
            foreach (var alias in model.Aliases)
            {
                if (!byName.TryAdd(alias, model) && byName[alias].Name != model.Name)
                {
                    clash?.Invoke(model, alias, byName[alias].Name);
                }
            }
        }

        models = byName.ToFrozenDictionary(StringComparer.Ordinal);
        Canonical = models.ToFrozenDictionary(p => p.Key, p => p.Value.Name, StringComparer.Ordinal);
    }

    /// <summary>Every name and alias, with the name of the model it resolves to.</summary>
    public IReadOnlyDictionary<string, string> Canonical { get; }

    /// <summary>The table of <paramref name="config"/>'s models, built once per config.</summary>
    public static ModelNames Of(UllmConfig config) => PerConfig.GetValue(config, c => new ModelNames(c.Models.Values));

    /// <summary>The model <paramref name="nameOrAlias"/> names, or null.</summary>
    public ModelConfig? Find(string nameOrAlias) => models.GetValueOrDefault(nameOrAlias);
}

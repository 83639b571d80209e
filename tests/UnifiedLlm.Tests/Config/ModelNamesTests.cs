using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Tests.Config;

/// <summary>The one table the router, the scheduler and the admin API resolve local model names and aliases through.</summary>
public sealed class ModelNamesTests
{
    private const string Toml = """
        [models.a]
        backend = "llamacpp"
        source = "/a.gguf"
        aliases = ["alpha", "first"]
        [models.b]
        backend = "llamacpp"
        source = "/b.gguf"
        aliases = ["beta"]
        """;

    private static readonly string[] Asked = ["a", "alpha", "first", "b", "beta"];

    [Fact]
    public void Names_and_aliases_find_their_model_and_nothing_else_is_found()
    {
        var config = ConfigLoader.Parse(Toml, "names.toml");
        var names = ModelNames.Of(config);

        Assert.Equal(["a", "a", "a", "b", "b"], Asked.Select(n => names.Find(n)?.Name));
        Assert.Null(names.Find("Alpha"));
        Assert.Null(names.Find("gamma"));
        Assert.Same(names, ModelNames.Of(config));
    }

    [Fact]
    public void A_models_own_name_wins_over_another_models_alias_and_each_clash_is_reported()
    {
        var config = ConfigLoader.Parse(Toml, "names.toml");
        var models = config.Models.Values.ToList();
        var clashes = new List<string>();
        var withClash = models.Select(m => m.Name == "b" ? m with { Aliases = ["a", "beta", "alpha"] } : m).Reverse();

        var names = new ModelNames(withClash, (model, name, owner) => clashes.Add($"{model.Name}: {name} is {owner}'s"));

        Assert.Equal(("a", "a", "b"), (names.Find("a")?.Name, names.Canonical["a"], names.Canonical["beta"]));
        Assert.Equal(["b: a is a's", "a: alpha is b's"], clashes);
    }
}

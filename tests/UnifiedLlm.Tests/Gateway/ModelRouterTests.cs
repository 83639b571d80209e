using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>How a requested name resolves to targets, in the order the router's rules give, and after a config reload.</summary>
public sealed class ModelRouterTests
{
    private const string Toml = """
        [models.a]
        backend = "llamacpp"
        source = "/models/a.gguf"
        aliases = ["a-alias"]

        [models.shared]
        backend = "llamacpp"
        source = "/models/shared.gguf"

        [providers.zeta]
        kind = "openai"
        base_url = "http://127.0.0.1:1/v1"
        models = ["both", "shared"]

        [providers.alpha]
        kind = "openai"
        base_url = "http://127.0.0.1:2/v1"
        models = ["both", "zeta/x", "only-alpha"]

        [router.fallback]
        a = ["alpha/only-alpha", "a-alias", "zeta/both"]
        """;

    [Theory]
    [InlineData("a", "a | alpha/only-alpha | zeta/both")]
    [InlineData("a-alias", "a | alpha/only-alpha | zeta/both")]
    [InlineData("shared", "shared")]
    [InlineData("both", "alpha/both")]
    [InlineData("zeta/both", "zeta/both")]
    [InlineData("alpha/unlisted-model", "alpha/unlisted-model")]
    [InlineData("zeta/x", "zeta/x")]
    [InlineData("only-alpha", "alpha/only-alpha")]
    public void Names_resolve_local_first_then_provider_slash_model_then_the_first_provider_listing_them(string asked, string expected)
    {
        using var fx = new Fixture(Toml);

        var plan = fx.Router.Plan(asked)!;

        Assert.Equal(expected, string.Join(" | ", plan.Targets.Select(t => t.Name)));
        Assert.Equal(asked, plan.RequestedModel);
    }

    [Fact]
    public void A_provider_prefix_keeps_the_rest_of_the_name_as_the_upstream_model()
    {
        using var fx = new Fixture(Toml);

        var target = Assert.Single(fx.Router.Plan("zeta/x")!.Targets);

        Assert.Equal("zeta", target.Provider!.Name);
        Assert.Equal("x", target.Model);
        Assert.Equal("zeta", target.Upstream);
        Assert.Equal("local:a", fx.Router.Plan("a")!.Targets[0].Upstream);
    }

    [Fact]
    public void Unknown_names_have_no_plan_and_are_described_with_close_names()
    {
        using var fx = new Fixture(Toml);

        Assert.Null(fx.Router.Plan("a-alais"));
        Assert.Equal("the model 'a-alais' does not exist (did you mean 'a-alias'?)", fx.Router.DescribeUnknown("a-alais"));
    }

    [Fact]
    public async Task A_reload_changes_what_names_resolve_to()
    {
        using var fx = new Fixture(Toml);
        Assert.Equal("alpha/both", fx.Router.Plan("both")!.Targets[0].Name);

        fx.Rewrite(Toml.Replace("models = [\"both\", \"zeta/x\", \"only-alpha\"]", "models = [\"zeta/x\"]", StringComparison.Ordinal));
        Assert.True((await fx.Config.ReloadAsync(TestContext.Current.CancellationToken)).Applied);

        Assert.Equal("zeta/both", fx.Router.Plan("both")!.Targets[0].Name);
        Assert.Null(fx.Router.Plan("only-alpha"));
    }

    private sealed class Fixture : IDisposable
    {
        private readonly TempDirectory dir = new("ullm-router");
        private readonly StaticModelEndpoints local = new();

        public Fixture(string toml)
        {
            var path = dir.Write("ullm.toml", toml);
            var events = new EventHub();
            Config = new ConfigHolder(ConfigLoader.Parse(toml, path), events, TimeProvider.System);
            local.Serve("a", new Uri("http://127.0.0.1:3/"), "a.gguf");
            local.Serve("shared", new Uri("http://127.0.0.1:4/"), "shared.gguf");
            Router = new ModelRouter(Config, local, new UpstreamHealth(Config, events, TimeProvider.System), new PeerDirectory(Config, TimeProvider.System, NullLogger<PeerDirectory>.Instance));
        }

        public ConfigHolder Config { get; }

        public ModelRouter Router { get; }

        public void Rewrite(string toml) => File.WriteAllText(Config.Current.SourcePath, toml);

        public void Dispose()
        {
            local.Dispose();
            Config.Dispose();
            dir.Dispose();
        }
    }
}

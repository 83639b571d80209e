using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Config;

/// <summary>The [responses] table: its defaults, the shipped example, and a bad value named with its line.</summary>
public sealed class ResponsesConfigTests
{
    [Fact]
    public void Responses_are_stored_for_30_days_by_default_and_the_table_sets_both()
    {
        var defaults = ConfigLoader.Parse("", "empty.toml").Responses;
        var example = ConfigLoader.Parse(File.ReadAllText(RepoPaths.InRepo("packaging", "config.example.toml")), "config.example.toml").Responses;
        var set = ConfigLoader.Parse("[responses]\nstore_by_default = false\nretention_days = 7\n", "set.toml").Responses;

        Assert.Equal(new ResponsesConfig(true, 30), defaults);
        Assert.Equal(defaults, example);
        Assert.Equal(new ResponsesConfig(false, 7), set);
    }

    [Theory]
    [InlineData("[responses]\nretention_days = 0\n", "responses.retention_days", 2)]
    [InlineData("[responses]\nstore_by_default = \"yes\"\n", "responses.store_by_default", 2)]
    [InlineData("[responses]\nretention = 3\n", "responses.retention", 2)]
    public void A_bad_value_is_named_with_its_line(string toml, string keyPath, int line)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "bad.toml"));

        var error = Assert.Single(e.Errors);
        Assert.Equal((keyPath, line), (error.KeyPath, error.Line));
    }
}

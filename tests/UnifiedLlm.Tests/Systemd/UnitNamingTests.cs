using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Tests.Systemd;

public sealed class UnitNamingTests
{
    [Theory]
    [InlineData("ullm-a.service", "/org/freedesktop/systemd1/unit/ullm_2da_2eservice")]
    [InlineData("1a.service", "/org/freedesktop/systemd1/unit/_31a_2eservice")]
    [InlineData("a1\\x2d.service", "/org/freedesktop/systemd1/unit/a1_5cx2d_2eservice")]
    public void Unit_object_path_escapes_like_systemd(string unit, string expected)
    {
        Assert.Equal(expected, UnitObjectPath.For(unit));
    }

    [Fact]
    public void Unit_name_is_prefix_escaped_model_short_id_and_suffix()
    {
        Assert.Equal("ullm-org-llama\\x2d3.gguf-ab12cd34.service", UnitName.ForModel("org/llama-3.gguf", "ab12cd34"));
        Assert.Equal("ullm--ab12cd34.service", UnitName.ForModel("", "ab12cd34"));
    }

    [Fact]
    public void Long_model_names_are_cut_to_the_unit_name_limit_without_splitting_an_escape()
    {
        for (var length = 200; length < 260; length++)
        {
            var name = UnitName.ForModel(new string('a', length - 200) + new string('ü', 100), "ab12cd34");
            Assert.True(name.Length <= UnitName.MaxLength, $"{name.Length} > {UnitName.MaxLength}");
            var model = name[UnitName.Prefix.Length..name.LastIndexOf("-ab12cd34", StringComparison.Ordinal)];
            Assert.Matches("^a*(\\\\x[0-9a-f]{2})*$", model);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("ab-1")]
    [InlineData("ab/1")]
    public void Short_id_must_be_alphanumeric(string shortId)
    {
        Assert.ThrowsAny<ArgumentException>(() => UnitName.ForModel("m", shortId));
    }
}

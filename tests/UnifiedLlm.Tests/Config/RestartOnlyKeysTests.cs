using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Config;

/// <summary>
/// The [server] keys a reload refuses (<see cref="ConfigHolder.RestartOnlyKeys"/>) are the ones docs/configuration.md and
/// docs/nixos.md name, and the ones the NixOS module restarts the unit for.
/// </summary>
public sealed partial class RestartOnlyKeysTests
{
    [Fact]
    public void Configuration_md_names_the_keys_a_reload_refuses()
    {
        var keys = QuotedBetween("docs/configuration.md", "the `[server]` keys ", " need a restart", Backticked());

        Assert.Equal(ConfigHolder.RestartOnlyKeys.Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Nixos_md_names_the_keys_a_reload_refuses()
    {
        var keys = QuotedBetween("docs/nixos.md", "the `[server]` keys ", ", the same that `ullmctl reload` refuses", Backticked());

        Assert.Equal(ConfigHolder.RestartOnlyKeys.Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_nixos_module_restarts_ullmd_for_the_keys_a_reload_refuses()
    {
        var keys = QuotedBetween("nix/module.nix", "restartOnlyServerKeys = [", "];", DoubleQuoted());

        Assert.Equal(ConfigHolder.RestartOnlyKeys.Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));
    }

    /// <summary>The quoted names in the first stretch of the file from <paramref name="start"/> to <paramref name="end"/>, with line breaks read as spaces.</summary>
    private static List<string> QuotedBetween(string file, string start, string end, Regex quoted)
    {
        var text = Regex.Replace(File.ReadAllText(RepoPaths.InRepo(file.Split('/'))), @"\s+", " ");
        var from = text.IndexOf(start, StringComparison.Ordinal);
        Assert.True(from >= 0, $"{file} no longer says '{start}'");
        var to = text.IndexOf(end, from + start.Length, StringComparison.Ordinal);
        Assert.True(to >= 0, $"{file} no longer says '{end}' after '{start}'");
        return [.. quoted.Matches(text[(from + start.Length)..to]).Select(m => m.Groups[1].Value)];
    }

    [GeneratedRegex("`([a-z_]+)`")]
    private static partial Regex Backticked();

    [GeneratedRegex("\"([a-z_]+)\"")]
    private static partial Regex DoubleQuoted();
}

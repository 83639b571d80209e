using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Tests.Config;

/// <summary>The [peers.NAME] tables: what they set, their defaults, and each mistake named with its key and line.</summary>
public sealed class PeersConfigTests
{
    [Fact]
    public void A_peer_has_its_url_its_key_source_and_a_poll_interval_of_2_s_by_default()
    {
        var config = ConfigLoader.Parse("""
            [peers.gpu2]
            url = "https://gpu2.example:9000/"
            api_key_credential = "peer-gpu2"

            [peers.gpu3]
            url = "http://127.0.0.3:9000"
            api_key_file = "/run/keys/gpu3"
            poll_interval_seconds = 0.5
            """, "peers.toml");

        var gpu2 = config.Peers["gpu2"];
        Assert.Equal(new ApiKeySource(ApiKeySourceKind.Credential, "peer-gpu2"), gpu2.ApiKey);
        Assert.Equal(TimeSpan.FromSeconds(2), gpu2.PollInterval);
        Assert.Equal("https://gpu2.example:9000/v1/", gpu2.V1Base.AbsoluteUri);
        Assert.Equal("peer@gpu2", gpu2.Upstream);
        var gpu3 = config.Peers["gpu3"];
        Assert.Equal(new ApiKeySource(ApiKeySourceKind.File, "/run/keys/gpu3"), gpu3.ApiKey);
        Assert.Equal(TimeSpan.FromSeconds(0.5), gpu3.PollInterval);
        Assert.Equal("http://127.0.0.3:9000/ullm/peer/v1/status", new Uri(gpu3.Root, "ullm/peer/v1/status").AbsoluteUri);
        Assert.Empty(ConfigLoader.Parse("", "empty.toml").Peers);
    }

    [Theory]
    [InlineData("[peers.b]\nurl = \"ftp://b:9000\"\napi_key_env = \"K\"\n", "peers.b.url", 2)]
    [InlineData("[peers.b]\nurl = \"http://user:pw@b:9000\"\napi_key_env = \"K\"\n", "peers.b.url", 2)]
    [InlineData("[peers.b]\napi_key_env = \"K\"\n", "peers.b", 1)]
    [InlineData("[peers.b]\nurl = \"http://b:9000\"\n", "peers.b", 1)]
    [InlineData("[peers.b]\nurl = \"http://b:9000\"\napi_key_env = \"K\"\napi_key_file = \"/k\"\n", "peers.b", 1)]
    [InlineData("[peers.b]\nurl = \"http://b:9000\"\napi_key_env = \"K\"\napi_key = \"secret\"\n", "peers.b.api_key", 4)]
    [InlineData("[peers.b]\nurl = \"http://b:9000\"\napi_key_env = \"K\"\npoll_interval_seconds = 0\n", "peers.b.poll_interval_seconds", 4)]
    [InlineData("[peers.\"b c\"]\nurl = \"http://b:9000\"\napi_key_env = \"K\"\n", "peers.\"b c\"", 1)]
    public void A_mistake_is_named_with_its_key_and_line(string toml, string keyPath, int line)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "bad.toml"));

        var error = Assert.Single(e.Errors);
        Assert.Equal((keyPath, line), (error.KeyPath, error.Line));
    }

    [Fact]
    public void A_peer_added_or_changed_is_named_by_a_reload()
    {
        var before = ConfigLoader.Parse("[peers.b]\nurl = \"http://b:9000\"\napi_key_env = \"K\"\n", "a.toml");
        var after = ConfigLoader.Parse("[peers.b]\nurl = \"http://b:9001\"\napi_key_env = \"K\"\n[peers.c]\nurl = \"http://c:9000\"\napi_key_env = \"K\"\n", "a.toml");

        Assert.Equal(["peer 'c' added", "peer 'b' changed"], ConfigDiff.Describe(before, after));
    }
}

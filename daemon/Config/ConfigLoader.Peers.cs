namespace UnifiedLlm.Daemon.Config;

internal static partial class ConfigLoader
{
    /// <summary>The [peers.NAME] tables: other ullmd hosts, each reached over HTTP(S) with an API key read from a file, a credential or the environment.</summary>
    private static Dictionary<string, PeerConfig> BindPeers(TomlSection? peersSection)
    {
        var peers = new Dictionary<string, PeerConfig>(StringComparer.Ordinal);
        if (peersSection is null)
        {
            return peers;
        }

        foreach (var (name, s) in peersSection.ChildTables())
        {
            if (!IsSafeName(name))
            {
                s.ErrorAtTable(NameRule);
            }

            var urlText = s.RequiredString("url");
            Uri? url = null;
            if (urlText is not null
                && (!Uri.TryCreate(urlText, UriKind.Absolute, out url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
                    || url.UserInfo.Length > 0 || url.Query.Length > 0 || url.Fragment.Length > 0))
            {
                s.Error("url", $"'{urlText}' is not an http(s) URL of a peer's OpenAI listener (without user info, query or fragment), e.g. \"https://gpu2.example:9000\"");
                url = null;
            }

            var sources = KeySources(s);
            if (sources.Count > 1)
            {
                s.ErrorAtTable("set only one of api_key_env, api_key_file, api_key_credential");
            }
            else if (sources.Count == 0)
            {
                s.ErrorAtTable("missing the API key this host presents to the peer: set api_key_credential, api_key_file or api_key_env (a key made on the peer with ullmctl keys create)");
            }

            var poll = TimeSpan.FromSeconds(s.Number("poll_interval_seconds", PeerConfig.DefaultPollSeconds, 0.2, 3600));
            s.RejectUnknownKeys();
            peers[name] = new PeerConfig(name, url ?? new Uri("http://invalid.invalid"), sources.FirstOrDefault() ?? new ApiKeySource(ApiKeySourceKind.None, ""), poll);
        }

        return peers;
    }
}

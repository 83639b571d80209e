namespace UnifiedLlm.Daemon.Routing.Peers;

/// <summary>
/// Where a model is served among this host and its peers; pure policy. A model loaded here is served here; else one
/// loaded on a peer goes there (the shortest queue first); else it loads here when it fits, else on the peer reporting
/// the most room. The others follow as fallbacks, and peers whose last status read failed come last.
/// </summary>
internal static class PeerPlacement
{
    /// <summary>
    /// The order to try. Null stands for this host, present only when <paramref name="localConfigured"/>;
    /// <paramref name="fitsHere"/> is asked only when the model is loaded nowhere.
    /// </summary>
    public static IReadOnlyList<string?> Order(bool localConfigured, bool loadedHere, Func<bool> fitsHere, IReadOnlyList<PeerCandidate> peers)
    {
        var loaded = peers.Where(p => p.Answering && p.Loaded).OrderBy(p => p.QueueDepth).ThenBy(p => p.Peer, StringComparer.Ordinal).Select(p => (string?)p.Peer).ToList();
        var room = peers.Where(p => p.Answering && !p.Loaded).OrderByDescending(p => p.Room).ThenBy(p => p.Peer, StringComparer.Ordinal).Select(p => (string?)p.Peer).ToList();
        var silent = peers.Where(p => !p.Answering).OrderBy(p => p.Peer, StringComparer.Ordinal).Select(p => (string?)p.Peer).ToList();
        if (!localConfigured)
        {
            return [.. loaded, .. room, .. silent];
        }

        if (loadedHere)
        {
            return [null, .. loaded, .. room, .. silent];
        }

        if (loaded.Count > 0)
        {
            return [.. loaded, null, .. room, .. silent];
        }

        return fitsHere() ? [null, .. room, .. silent] : [.. room, null, .. silent];
    }
}

/// <summary>
/// A peer that reports the model: whether its last status read answered, whether the model is loaded there, the
/// requests waiting for it to load, and the peer's room (<see cref="PeerStatus.Room"/>).
/// </summary>
internal sealed record PeerCandidate(string Peer, bool Answering, bool Loaded, int QueueDepth, ulong Room);

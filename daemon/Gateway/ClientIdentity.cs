using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Who is asking: an API key, or anonymous local use. <see cref="Address"/> is the peer for the audit log;
/// <see cref="Peer"/> what identifies an anonymous caller for rate limits: the user id on the unix socket (from the
/// kernel, SO_PEERCRED), the IP address on TCP.
/// </summary>
internal sealed record ClientIdentity(ApiKeyRecord? Key, string Address, string Peer)
{
    /// <summary>The rate-limit bucket: the key's id, or one bucket per anonymous peer, so one local user cannot starve the others.</summary>
    public string BucketId { get; } = Key?.Id ?? "anonymous " + Peer;
}

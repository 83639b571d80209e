using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Who is asking: an API key, or anonymous local use; <see cref="Address"/> is the peer for the audit log.</summary>
internal sealed record ClientIdentity(ApiKeyRecord? Key, string Address)
{
    /// <summary>The rate-limit bucket: the key's id, or one shared bucket for anonymous clients.</summary>
    public string BucketId => Key?.Id ?? "anonymous";
}

namespace UnifiedLlm.Daemon.Routing.Peers;

/// <summary>
/// The headers a request forwarded to a peer carries: its request id (the peer keeps it, so one id names the request in
/// both hosts' audit logs) and the hop mark, which makes the peer serve it locally or fail, never forward it again.
/// </summary>
internal static class PeerHeaders
{
    public const string Hop = "x-ullm-hop";

    public const string RequestId = "x-request-id";
}

using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Unix;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Bearer keys checked against <see cref="ApiKeyStore"/>: a key that is given must be valid; none at all is allowed on the
/// unix socket when security.allow_anonymous_unix is set, and on TCP only when security.require_key_on_tcp is off.
/// Without a key, a client certificate verified against server.tls_client_ca stands for the key named by its subject CN.
/// Where anonymous use is allowed, a bearer token that is not in ullmd's key format counts as no key.
/// </summary>
internal sealed class ClientAuthenticator(ApiKeyStore keys, ConfigHolder config)
{
    private const string UnixPeerItem = "ullm.unix-peer";

    public async Task<ClientIdentity> AuthenticateAsync(HttpContext context)
    {
        var listener = ListenerNames.Of(context);
        var (address, peer) = Peer(context, listener);
        string? secret = null;
        var header = context.Request.Headers.Authorization.ToString();
        if (header.Length > 0)
        {
            secret = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
            if (string.IsNullOrEmpty(secret))
            {
                throw new GatewayException(401, "the Authorization header must be 'Bearer <API key>'", code: "invalid_api_key");
            }
        }
        else if (context.Request.Headers.TryGetValue("x-api-key", out var anthropicStyle) && anthropicStyle.ToString().Length > 0)
        {
            secret = anthropicStyle.ToString().Trim();
        }

        if ((secret is null || !ApiKeyStore.IsUllmdSecret(secret)) && listener == ListenerNames.OpenAiTcp && context.Connection.ClientCertificate is { } certificate)
        {
            // Only verified certificates get here: Kestrel requests them only with server.tls_client_ca, and checks
            // them against it in the handshake. The subject's CN is the name of the API key whose rights they carry.
            // A token that is not ullmd's (the OpenAI SDKs always send one) does not stand in the certificate's way.
            var name = certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, forIssuer: false);
            var byName = await keys.FindActiveByNameAsync(name, context.RequestAborted)
                ?? throw new GatewayException(401, $"the client certificate's subject CN '{name}' is not the name of an active API key ('ullmctl keys create --name {name}')", code: "invalid_api_key");
            return new ClientIdentity(byName, address, peer);
        }

        var security = config.Current.Security;
        var anonymousAllowed = listener == ListenerNames.OpenAiTcp ? !security.RequireKeyOnTcp : security.AllowAnonymousUnix;
        // The stock OpenAI SDKs always send some key: where anonymous use is allowed, a token that is not ullmd's
        // (ullm-…) is no claim to be anyone, so its caller is anonymous. A malformed or revoked ullm- key still fails.
        if (secret is null || (anonymousAllowed && !ApiKeyStore.IsUllmdSecret(secret)))
        {
            return anonymousAllowed
                ? new ClientIdentity(null, address, peer)
                : throw new GatewayException(401, "an API key is required: send 'Authorization: Bearer <key>' (create one with 'ullmctl keys create')", code: "missing_api_key");
        }

        var key = await keys.AuthenticateAsync(secret, context.RequestAborted)
            ?? throw new GatewayException(401, "the API key is not valid (unknown, revoked or expired)", code: "invalid_api_key");
        return new ClientIdentity(key, address, peer);
    }

    /// <summary>The audit log's address and the rate limits' peer: IP and port, and IP, on TCP; the user and process on the unix socket.</summary>
    private static (string Address, string Peer) Peer(HttpContext context, string? listener)
    {
        if (context.Connection.RemoteIpAddress is { } ip)
        {
            return ($"{ip}:{context.Connection.RemotePort}", ip.ToString());
        }

        // A unix connection's peer cannot change: read once per connection (a getsockopt and two strings), not per request.
        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items?.TryGetValue(UnixPeerItem, out var known) == true && known is UnixPeer peer)
        {
            return (peer.Address, peer.Peer);
        }

        if (context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            try
            {
                var credentials = PeerCredentials.Read(socket);
                var read = new UnixPeer($"{listener ?? "unix"} uid {credentials.Uid} pid {credentials.Pid}", $"uid {credentials.Uid}");
                items?.Add(UnixPeerItem, read);
                return (read.Address, read.Peer);
            }
            catch (SocketException)
            {
                // The peer is gone already; its request fails on its own.
            }
        }

        return (listener ?? "unix", listener ?? "unix");
    }

    private sealed record UnixPeer(string Address, string Peer);
}

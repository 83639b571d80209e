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
    private const string PeerItem = "ullm.peer";

    // A ValueTask: once the key table is loaded every caller is answered without waiting, and then no Task is made.
    public async ValueTask<ClientIdentity> AuthenticateAsync(HttpContext context)
    {
        var listener = ListenerNames.Of(context);
        var connection = Peer(context, listener);
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
            return new ClientIdentity(byName, connection.Address, connection.Peer);
        }

        var security = config.Current.Security;
        var anonymousAllowed = listener == ListenerNames.OpenAiTcp ? !security.RequireKeyOnTcp : security.AllowAnonymousUnix;
        // The stock OpenAI SDKs always send some key: where anonymous use is allowed, a token that is not ullmd's
        // (ullm-…) is no claim to be anyone, so its caller is anonymous. A malformed or revoked ullm- key still fails.
        if (secret is null || (anonymousAllowed && !ApiKeyStore.IsUllmdSecret(secret)))
        {
            return anonymousAllowed
                ? connection.Anonymous
                : throw new GatewayException(401, "an API key is required: send 'Authorization: Bearer <key>' (create one with 'ullmctl keys create')", code: "missing_api_key");
        }

        var key = await keys.AuthenticateAsync(secret, context.RequestAborted)
            ?? throw new GatewayException(401, "the API key is not valid (unknown, revoked or expired)", code: "invalid_api_key");
        return new ClientIdentity(key, connection.Address, connection.Peer);
    }

    /// <summary>The audit log's address and the rate limits' peer: IP and port, and IP, on TCP; the user and process on the unix socket.</summary>
    private static ConnectionPeer Peer(HttpContext context, string? listener)
    {
        // A connection's peer cannot change: read and formatted once per connection (on the unix socket a getsockopt
        // and two strings, on TCP two strings), not per request.
        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items?.TryGetValue(PeerItem, out var known) == true && known is ConnectionPeer peer)
        {
            return peer;
        }

        var read = Read(context, listener);
        if (read is not null)
        {
            items?.Add(PeerItem, read);
            return read;
        }

        return new ConnectionPeer(listener ?? "unix", listener ?? "unix");
    }

    private static ConnectionPeer? Read(HttpContext context, string? listener)
    {
        if (context.Connection.RemoteIpAddress is { } ip)
        {
            return new ConnectionPeer($"{ip}:{context.Connection.RemotePort}", ip.ToString());
        }

        if (context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            try
            {
                var credentials = PeerCredentials.Read(socket);
                return new ConnectionPeer($"{listener ?? "unix"} uid {credentials.Uid} pid {credentials.Pid}", $"uid {credentials.Uid}");
            }
            catch (SocketException)
            {
                // The peer is gone already; its request fails on its own.
            }
        }

        return null;
    }

    private sealed record ConnectionPeer(string Address, string Peer)
    {
        /// <summary>The connection's caller when it gives no key: one identity (and rate-limit bucket id) per connection, not per request.</summary>
        public ClientIdentity Anonymous { get; } = new(null, Address, Peer);
    }
}

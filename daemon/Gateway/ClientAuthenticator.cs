using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Bearer keys checked against <see cref="ApiKeyStore"/>: a key that is given must be valid; none at all is allowed on the
/// unix socket when security.allow_anonymous_unix is set, and on TCP only when security.require_key_on_tcp is off.
/// </summary>
internal sealed class ClientAuthenticator(ApiKeyStore keys, ConfigHolder config)
{
    public async Task<ClientIdentity> AuthenticateAsync(HttpContext context)
    {
        var listener = ListenerNames.Of(context);
        var address = context.Connection.RemoteIpAddress is { } ip ? $"{ip}:{context.Connection.RemotePort}" : listener ?? "unix";
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

        if (secret is null)
        {
            var security = config.Current.Security;
            var anonymousAllowed = listener == ListenerNames.OpenAiTcp ? !security.RequireKeyOnTcp : security.AllowAnonymousUnix;
            return anonymousAllowed
                ? new ClientIdentity(null, address)
                : throw new GatewayException(401, "an API key is required: send 'Authorization: Bearer <key>' (create one with 'ullmctl keys create')", code: "missing_api_key");
        }

        var key = await keys.AuthenticateAsync(secret, context.RequestAborted)
            ?? throw new GatewayException(401, "the API key is not valid (unknown, revoked or expired)", code: "invalid_api_key");
        return new ClientIdentity(key, address);
    }
}

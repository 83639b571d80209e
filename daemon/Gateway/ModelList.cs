using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// GET /v1/models: local models, their aliases, provider models, routes and the models only peers have, with ullmd's
/// own fields under "ullm" (a local model also names the peers that report it).
/// </summary>
internal static class ModelList
{
    public static async Task WriteAsync(HttpContext context, ClientAuthenticator authenticator, UllmConfig config, DaemonInfo daemon, IModelEndpoints endpoints, IReadOnlyList<PeerView> peers)
    {
        ClientIdentity client;
        try
        {
            client = await authenticator.AuthenticateAsync(context);
        }
        catch (GatewayException e)
        {
            await OpenAiErrors.WriteAsync(context, e, OpenAiErrors.Body(e));
            return;
        }

        // A key limited to some models sees only those (and a local model's aliases when it may use the model).
        var allowed = client.Key is { Models.Count: > 0 } key ? key.Models.ToHashSet(StringComparer.Ordinal) : null;
        bool May(string name, string? localModel = null) => allowed is null || allowed.Contains(name) || (localModel is not null && allowed.Contains(localModel));
        var created = daemon.StartedAt.ToUnixTimeSeconds();
        JsonObject Entry(string id, string ownedBy, JsonObject ullm) => new() { ["id"] = id, ["object"] = "model", ["created"] = created, ["owned_by"] = ownedBy, ["ullm"] = ullm };
        var data = new JsonArray();
        var ready = endpoints.ReadyModels();
        foreach (var model in config.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            var backend = model.BackendKey;
            if (May(model.Name))
            {
                var local = new JsonObject { ["kind"] = "local", ["backend"] = backend, ["context"] = model.Context, ["aliases"] = Strings(model.Aliases), ["loaded"] = ready.Contains(model.Name) };
                if (OnPeers(peers, model.Name) is { Count: > 0 } onPeers)
                {
                    local["peers"] = onPeers;
                }

                data.Add((JsonNode)Entry(model.Name, "ullmd", local));
            }

            foreach (var alias in model.Aliases.Where(alias => May(alias, model.Name)))
            {
                data.Add((JsonNode)Entry(alias, "ullmd", new JsonObject { ["kind"] = "alias", ["alias_of"] = model.Name, ["backend"] = backend, ["context"] = model.Context }));
            }
        }

        foreach (var provider in config.Providers.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            foreach (var m in provider.Models.Where(m => May($"{provider.Name}/{m}")))
            {
                data.Add((JsonNode)Entry($"{provider.Name}/{m}", provider.Name, new JsonObject { ["kind"] = "provider", ["provider"] = provider.Name, ["provider_kind"] = EnumNames.Providers.NameOf(provider.Kind) }));
            }
        }

        // A name this host resolves itself is not a peer's: the router would not send it there.
        var names = ModelNames.Of(config).Canonical;
        var remote = peers.SelectMany(v => (v.Status?.Models ?? []).Select(m => m.Name))
            .Where(name => !names.ContainsKey(name) && !config.Routes.ContainsKey(name))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var name in remote.Where(n => May(n)))
        {
            data.Add((JsonNode)Entry(name, "ullmd-peer", new JsonObject { ["kind"] = "peer", ["peers"] = OnPeers(peers, name) }));
        }

        foreach (var route in config.Routes.Values.OrderBy(r => r.Name, StringComparer.Ordinal).Where(r => May(r.Name)))
        {
            data.Add((JsonNode)Entry(route.Name, "ullmd", new JsonObject { ["kind"] = "route", ["strategy"] = EnumNames.Strategies.NameOf(route.Strategy), ["targets"] = Strings(route.Targets) }));
        }

        await context.Response.WriteAsJsonAsync(new JsonObject { ["object"] = "list", ["data"] = data }, NodeJsonContext.Default.JsonObject, cancellationToken: context.RequestAborted);
    }

    /// <summary>The peers that report <paramref name="model"/>: each named, with whether it is loaded there and whether the peer answers.</summary>
    private static JsonArray OnPeers(IReadOnlyList<PeerView> peers, string model) =>
        [.. peers.Where(v => v.Status?.Find(model) is not null)
            .Select(v => (JsonNode)new JsonObject { ["peer"] = v.Peer.Name, ["loaded"] = v.Status!.Find(model)!.Loaded, ["answering"] = v.Answering })];

    private static JsonArray Strings(IEnumerable<string> values) => [.. values.Select(v => (JsonNode)v)];
}

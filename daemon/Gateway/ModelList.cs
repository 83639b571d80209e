using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>GET /v1/models: local models, their aliases, provider models and routes, with ullmd's own fields under "ullm".</summary>
internal static class ModelList
{
    public static async Task WriteAsync(HttpContext context, ClientAuthenticator authenticator, UllmConfig config, DaemonInfo daemon, IModelEndpoints endpoints)
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
        object Entry(string id, string ownedBy, object ullm) => new Dictionary<string, object> { ["id"] = id, ["object"] = "model", ["created"] = created, ["owned_by"] = ownedBy, ["ullm"] = ullm };
        var data = new List<object>();
        var ready = endpoints.ReadyModels();
        foreach (var model in config.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            var backend = model.BackendKey;
            if (May(model.Name))
            {
                data.Add(Entry(model.Name, "ullmd", new { kind = "local", backend, context = model.Context, aliases = model.Aliases, loaded = ready.Contains(model.Name) }));
            }

            data.AddRange(model.Aliases.Where(alias => May(alias, model.Name)).Select(alias => Entry(alias, "ullmd", new { kind = "alias", alias_of = model.Name, backend, context = model.Context })));
        }

        foreach (var provider in config.Providers.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            data.AddRange(provider.Models.Where(m => May($"{provider.Name}/{m}")).Select(m => Entry($"{provider.Name}/{m}", provider.Name, new { kind = "provider", provider = provider.Name, provider_kind = EnumNames.Providers.NameOf(provider.Kind) })));
        }

        foreach (var route in config.Routes.Values.OrderBy(r => r.Name, StringComparer.Ordinal).Where(r => May(r.Name)))
        {
            data.Add(Entry(route.Name, "ullmd", new { kind = "route", strategy = EnumNames.Strategies.NameOf(route.Strategy), targets = route.Targets }));
        }

        await context.Response.WriteAsJsonAsync(new { @object = "list", data }, context.RequestAborted);
    }
}

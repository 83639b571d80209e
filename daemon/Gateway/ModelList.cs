using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>GET /v1/models: local models, their aliases, provider models and routes, with ullmd's own fields under "ullm".</summary>
internal static class ModelList
{
    public static async Task WriteAsync(HttpContext context, ClientAuthenticator authenticator, UllmConfig config, DaemonInfo daemon, IModelEndpoints endpoints)
    {
        try
        {
            await authenticator.AuthenticateAsync(context);
        }
        catch (GatewayException e)
        {
            await OpenAiErrors.WriteAsync(context, e, OpenAiErrors.Body(e));
            return;
        }

        var created = daemon.StartedAt.ToUnixTimeSeconds();
        object Entry(string id, string ownedBy, object ullm) => new Dictionary<string, object> { ["id"] = id, ["object"] = "model", ["created"] = created, ["owned_by"] = ownedBy, ["ullm"] = ullm };
        var data = new List<object>();
        var ready = endpoints.ReadyModels();
        foreach (var model in config.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            var backend = ProtoMapping.BackendName(model.Backend);
            data.Add(Entry(model.Name, "ullmd", new { kind = "local", backend, context = model.Context, aliases = model.Aliases, loaded = ready.Contains(model.Name) }));
            data.AddRange(model.Aliases.Select(alias => Entry(alias, "ullmd", new { kind = "alias", alias_of = model.Name, backend, context = model.Context })));
        }

        foreach (var provider in config.Providers.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            data.AddRange(provider.Models.Select(m => Entry($"{provider.Name}/{m}", provider.Name, new { kind = "provider", provider = provider.Name, provider_kind = provider.Kind == ProviderKind.Anthropic ? "anthropic" : "openai" })));
        }

        foreach (var route in config.Routes.Values.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            data.Add(Entry(route.Name, "ullmd", new { kind = "route", strategy = StrategyName(route.Strategy), targets = route.Targets }));
        }

        await context.Response.WriteAsJsonAsync(new { @object = "list", data }, context.RequestAborted);
    }

    private static string StrategyName(RouteStrategy strategy) => strategy switch
    {
        RouteStrategy.LocalFirst => "local-first",
        RouteStrategy.CloudFirst => "cloud-first",
        RouteStrategy.CostOptimized => "cost-optimized",
        RouteStrategy.LatencyOptimized => "latency-optimized",
        _ => "round-robin",
    };
}

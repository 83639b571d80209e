using Microsoft.AspNetCore.Mvc;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gateway.Caching;
using UnifiedLlm.Daemon.Gateway.Responses;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Registers the gateway's services and maps its endpoints on the OpenAI listeners.</summary>
internal static class GatewayEndpoints
{
    /// <summary>The audit journal's file in the data directory, beside the database.</summary>
    public const string AuditJournalFile = "audit.journal";

    public static IServiceCollection AddGateway(this IServiceCollection services)
    {
        services.AddSingleton<UpstreamHealth>();
        services.AddSingleton<PeerDirectory>();
        services.AddHostedService(sp => sp.GetRequiredService<PeerDirectory>());
        services.AddSingleton<ModelRouter>();
        // The cloud providers' pool; each local backend's comes with its lease.
        services.AddSingleton(sp => UpstreamConnections.ForProviders(sp.GetRequiredService<ConfigHolder>().Current.Router.Timeouts.Connect));
        services.AddSingleton<OpenAiCompatibleClient>();
        services.AddSingleton<AnthropicClient>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<AuditQueue>();
        services.AddSingleton(sp => new AuditJournal(Path.Combine(sp.GetRequiredService<ConfigHolder>().Current.Server.DataDir, AuditJournalFile)));
        services.AddSingleton<RateLimits>();
        services.AddSingleton<ClientAuthenticator>();
        services.AddSingleton<ResponseCacheStore>();
        services.AddSingleton<ResponseCache>();
        services.AddSingleton<CacheGate>();
        services.AddSingleton<ProxyPipeline>();
        services.AddSingleton<AudioProxy>();
        services.AddSingleton<GatewayRequestHandler>();
        services.AddHostedService<AuditWriter>();
        services.AddResponses();
        return services;
    }

    public static void MapGateway(this IEndpointRouteBuilder endpoints)
    {
        // Plain request delegates over the singleton handler: binding it as a parameter made every request create a
        // dependency-injection scope it never used.
        var handler = endpoints.ServiceProvider.GetRequiredService<GatewayRequestHandler>();
        endpoints.MapPost("/v1/chat/completions", c => handler.HandleAsync(c, EndpointKind.ChatCompletions, OpenAiClientProtocol.Instance));
        endpoints.MapPost("/v1/completions", c => handler.HandleAsync(c, EndpointKind.Completions, OpenAiClientProtocol.Instance));
        endpoints.MapPost("/v1/embeddings", c => handler.HandleAsync(c, EndpointKind.Embeddings, OpenAiClientProtocol.Instance));
        // Rerank servers answer on both paths (llama.cpp, vLLM, TGI), so clients are written for either.
        endpoints.MapPost("/v1/rerank", c => handler.HandleAsync(c, EndpointKind.Rerank, OpenAiClientProtocol.Instance));
        endpoints.MapPost("/rerank", c => handler.HandleAsync(c, EndpointKind.Rerank, OpenAiClientProtocol.Instance));
        endpoints.MapPost("/v1/audio/transcriptions", c => handler.HandleAudioAsync(c, EndpointKind.AudioTranscriptions));
        endpoints.MapPost("/v1/audio/translations", c => handler.HandleAudioAsync(c, EndpointKind.AudioTranslations));
        endpoints.MapPost("/v1/audio/speech", c => handler.HandleAudioAsync(c, EndpointKind.AudioSpeech));
        endpoints.MapPost("/v1/messages", c =>
            handler.HandleAsync(c, EndpointKind.ChatCompletions, new AnthropicClientProtocol(), AnthropicInboundTranslator.ToOpenAi));
        endpoints.MapResponses(handler);
        endpoints.MapGet("/v1/models", (HttpContext c, ClientAuthenticator auth, ConfigHolder config, DaemonInfo daemon, IModelEndpoints models, PeerDirectory peers) =>
            ModelList.WriteAsync(c, auth, config.Current, daemon, models, peers.Views()));
        endpoints.MapGet("/" + PeerStatus.Path, (HttpContext c, ClientAuthenticator auth, ConfigHolder config, [FromServices] Scheduler scheduler, [FromServices] GpuMonitor gpus) =>
            PeerStatusEndpoint.WriteAsync(c, auth, config.Current, scheduler, gpus));
        endpoints.MapGet("/metrics", async (HttpContext c, GatewayMetrics metrics, ClientAuthenticator auth, ConfigHolder config) =>
        {
            // On TCP, the metrics (model names, traffic, GPU use) are for key holders unless the config opens them.
            if (!config.Current.Security.MetricsOpenOnTcp && !await TcpKeyCheck.PassesAsync(c, auth, "/metrics on the TCP listener needs an API key (any valid key): send 'Authorization: Bearer ullm-…', "
                + "or set security.metrics_open_on_tcp = true"))
            {
                return;
            }

            c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.ExportAsync(c.Response.Body, c.RequestAborted);
        });
    }
}

using System.Collections.Frozen;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>
/// Puts the <see cref="ResponseCache"/> in front of the proxy for one OpenAI-shaped request: finds the owner (a route by
/// its name, a model by its name or an alias) whose <c>cache</c> is on, decides and keys the request, marks the response
/// (<c>x-ullm-cache: hit|miss|bypass</c>) and the exchange (audit, metrics), and looks up.
/// </summary>
internal sealed class CacheGate
{
    public const string Header = "x-ullm-cache";

    private readonly ResponseCache cache;
    private readonly ConfigHolder config;
    private Owners? owners;

    public CacheGate(ResponseCache cache, ConfigHolder config)
    {
        this.cache = cache;
        this.config = config;
        config.OnReplaced((_, next) => cache.Retain(new Owners(next).All.Select(o => o.Name).ToHashSet(StringComparer.Ordinal)));
    }

    /// <param name="request">The OpenAI request (for /v1/messages and /v1/responses, its translation), or one only a native target serves.</param>
    public async ValueTask<CacheSession> OpenAsync(HttpContext context, Exchange exchange, ProxyRequest request, CancellationToken cancellationToken)
    {
        var kind = request.Kind;
        if (kind == EndpointKind.Rerank || Owner(request.Model) is not { } owner)
        {
            return CacheSession.Off;
        }

        var scope = owner.Config.Shared ? null : exchange.Client.BucketId;
        // The cache holds chat-shaped answers: a request only a native target can serve has none to find or keep.
        var decision = request.IsNativeOnly ? CacheDecision.Bypass("only a native target serves it") : CacheKeys.Decide(kind, request.Body.Span, owner.Name, scope, owner.Config.CacheSampled);
        if (decision.Key is null)
        {
            cache.CountBypass(owner);
            Mark(context, exchange, "bypass");
            return CacheSession.Off;
        }

        var lookup = await cache.LookupAsync(owner, decision.Key, cancellationToken);
        if (lookup.Hit is { } hit)
        {
            Mark(context, exchange, "hit");
            exchange.Path.Add("cache");
            exchange.TimeToFirstToken = TimeSpan.Zero;
            exchange.PromptTokens = hit.PromptTokens;
            exchange.CompletionTokens = hit.CompletionTokens;
            return new CacheSession(kind, hit, null);
        }

        Mark(context, exchange, "miss");
        return new CacheSession(kind, null, lookup.Ticket);
    }

    /// <summary>Every owner the config in force has, for ullmctl cache stats and clear.</summary>
    public IReadOnlyList<CacheOwner> ConfiguredOwners() => Current().All;

    /// <summary>The configured owner called <paramref name="name"/> (a route, a model, or a model's alias), or null.</summary>
    public CacheOwner? Owner(string name) => Current().ByName.GetValueOrDefault(name);

    private Owners Current()
    {
        var known = owners;
        var current = config.Current;
        if (known?.Config != current)
        {
            owners = known = new Owners(current);
        }

        return known;
    }

    private static void Mark(HttpContext context, Exchange exchange, string result)
    {
        context.Response.Headers[Header] = result;
        exchange.Cache = result;
    }

    /// <summary>The owners of one config, by every name that reaches them (routes first, as the router resolves them).</summary>
    private sealed class Owners
    {
        public Owners(UllmConfig config)
        {
            Config = config;
            var byName = new Dictionary<string, CacheOwner>(StringComparer.Ordinal);
            var all = new List<CacheOwner>();
            foreach (var route in config.Routes.Values.Where(r => r.Cache is not null))
            {
                var owner = new CacheOwner(route.Name, route.Cache!);
                all.Add(owner);
                byName[route.Name] = owner;
            }

            foreach (var model in config.Models.Values.Where(m => m.Cache is not null))
            {
                var owner = new CacheOwner(model.Name, model.Cache!);
                all.Add(owner);
                foreach (var name in model.Aliases.Prepend(model.Name).Where(n => !config.Routes.ContainsKey(n)))
                {
                    byName.TryAdd(name, owner);
                }
            }

            ByName = byName.ToFrozenDictionary(StringComparer.Ordinal);
            All = [.. all.OrderBy(o => o.Name, StringComparer.Ordinal)];
        }

        public UllmConfig Config { get; }

        public FrozenDictionary<string, CacheOwner> ByName { get; }

        public IReadOnlyList<CacheOwner> All { get; }
    }
}

/// <summary>
/// The cache's part in one request: a hit to serve, or a ticket to fill from the answer as it passes to the client (a
/// whole body, or stream chunks assembled), stored only when the answer completed. <see cref="Off"/> does nothing.
/// </summary>
internal sealed class CacheSession(EndpointKind kind, CachedAnswer? hit, CacheTicket? ticket) : IDisposable
{
    private StreamAssembler? assembler;

    public static CacheSession Off { get; } = new(EndpointKind.ChatCompletions, null, null);

    public CachedAnswer? Hit => hit;

    /// <summary>One stream chunk as the upstream sent it (usage chunks included, whether or not the client gets them).</summary>
    public void Observe(ReadOnlyMemory<byte> chunk)
    {
        if (ticket is not null)
        {
            (assembler ??= new StreamAssembler(kind)).Add(chunk);
        }
    }

    /// <summary>Stores the stream observed, once it ended with [DONE] and reached the client.</summary>
    public Task StoreStreamAsync(Exchange exchange) =>
        StoreAsync(assembler?.Complete(exchange.Prompt, exchange.Completion));

    /// <summary>Stores a whole answer, once it reached the client.</summary>
    public Task StoreBodyAsync(byte[] body, Exchange exchange) =>
        ticket is null ? Task.CompletedTask : StoreAsync(CachedAnswer.FromBody(kind, body, exchange.Prompt, exchange.Completion));

    public void Dispose() => ticket?.Dispose();

    private async Task StoreAsync(CachedAnswer? answer)
    {
        if (ticket is not null && answer is not null)
        {
            await ticket.CompleteAsync(answer);
        }
    }
}

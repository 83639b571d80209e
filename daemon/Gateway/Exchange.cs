using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>What happened to one request, collected as it is served and then written to the audit log and metrics.</summary>
internal sealed class Exchange(string requestId, ClientIdentity client, long startedAt, DateTimeOffset time)
{
    public string RequestId { get; } = requestId;

    public ClientIdentity Client { get; set; } = client;

    /// <summary>The model asked for; empty until the body has been read.</summary>
    public string Model { get; set; } = "";

    /// <summary>The model asked for as metrics label it, once the router resolved it to targets; null for a name that resolves to nothing.</summary>
    public string? RoutedModel { get; set; }

    public long StartedAt { get; } = startedAt;

    public DateTimeOffset Time { get; } = time;

    public RouteTarget? Target { get; set; }

    public List<string> Path { get; } = [];

    public int Status { get; set; } = 200;

    public string Outcome { get; set; } = "ok";

    public string? Error { get; set; }

    public long? PromptTokens { get; set; }

    public long? CompletionTokens { get; set; }

    public long EstimatedPromptTokens { get; set; }

    public long CompletionChars { get; set; }

    public TimeSpan? TimeToFirstToken { get; set; }

    /// <summary>What the response cache did: hit, miss or bypass; null when the cache is off for the model.</summary>
    public string? Cache { get; set; }

    public bool CacheHit => Cache == "hit";

    /// <summary>Its row was committed before the answer's end went out; nothing is queued for it afterwards.</summary>
    public bool Audited { get; set; }

    public bool TokensEstimated => PromptTokens is null || CompletionTokens is null;

    public long Prompt => PromptTokens ?? EstimatedPromptTokens;

    /// <summary>About four characters per token when the upstream did not say.</summary>
    public long Completion => CompletionTokens ?? ((CompletionChars + 3) / 4);

    public double Cost => Target?.Provider is { } p
        ? ((Prompt * p.CostPerMillionInputTokens) + (Completion * p.CostPerMillionOutputTokens)) / 1_000_000
        : 0;

    public void Failed(GatewayException error, string outcome)
    {
        Status = error.StatusCode;
        Outcome = outcome;
        Error = error.Message;
    }

    public AuditRow ToRow(TimeSpan latency) => new(
        RequestId,
        Time,
        Client.Key?.Id,
        Client.Address,
        Model,
        Target?.Name,
        Path,
        Status,
        Outcome,
        Prompt,
        Completion,
        TokensEstimated,
        TimeToFirstToken is { } t ? (long)t.TotalMilliseconds : null,
        (long)latency.TotalMilliseconds,
        Cost,
        Error)
    {
        Cache = Cache,
    };
}

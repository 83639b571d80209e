using System.Collections.Concurrent;
using Prometheus;
using UnifiedLlm.Daemon.Routing;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>The gateway's Prometheus metrics, in a registry of its own (one per daemon), exported as text on /metrics.</summary>
internal sealed class GatewayMetrics
{
    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    private readonly Counter requests;
    private readonly Histogram duration;
    private readonly Histogram ttft;
    private readonly Counter tokens;
    private readonly Counter cost;
    private readonly Counter fallbacks;
    private readonly Counter auditDropped;

    // Models and targets come from the config (a name no route resolves is counted as "none"), so these stay as small as
    // the config; the label sets are looked up once per series, not per request.
    private readonly ConcurrentDictionary<string, TargetSeries> byTarget = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Model, string Target, int Status), RequestSeries> byRequest = new();

    public GatewayMetrics(UpstreamHealth health)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        requests = factory.CreateCounter("ullm_requests_total", "Requests by model asked, target served and HTTP status.", "model", "target", "status");
        duration = factory.CreateHistogram("ullm_request_duration_seconds", "Total request latency.", new HistogramConfiguration { LabelNames = ["model"], Buckets = LatencyBuckets });
        ttft = factory.CreateHistogram("ullm_time_to_first_token_seconds", "Time to the first token from the target.", new HistogramConfiguration { LabelNames = ["target"], Buckets = LatencyBuckets });
        tokens = factory.CreateCounter("ullm_tokens_total", "Tokens by target and kind (prompt, completion).", "target", "kind");
        cost = factory.CreateCounter("ullm_cost_total", "Estimated cost in the providers' currency.", "target");
        fallbacks = factory.CreateCounter("ullm_fallbacks_total", "Targets that failed before the first byte and were skipped.", "target");
        auditDropped = factory.CreateCounter("ullm_audit_rows_dropped_total", "Audit rows not written: queue full or database error.");
        InFlight = factory.CreateGauge("ullm_requests_in_flight", "Requests being served.");
        var breakers = factory.CreateGauge("ullm_breaker_state", "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open.", "upstream");
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var breaker in health.Breakers())
            {
                breakers.WithLabels(breaker.Upstream).Set(breaker.State switch { "open" => 2, "half-open" => 1, _ => 0 });
            }
        });
    }

    public CollectorRegistry Registry { get; }

    public Gauge InFlight { get; }

    /// <summary>Counts a finished request; <paramref name="model"/> is null when the name resolved to nothing.</summary>
    public void Completed(string? model, string? target, int status, TimeSpan latency, TimeSpan? firstToken, long promptTokens, long completionTokens, double estimatedCost)
    {
        var served = target ?? "none";
        var request = byRequest.GetOrAdd((model ?? "none", served, status), NewRequestSeries);
        request.Requests.Inc();
        request.Duration.Observe(latency.TotalSeconds);
        var series = byTarget.GetOrAdd(served, NewTargetSeries);
        if (firstToken is { } t)
        {
            series.TimeToFirstToken.Observe(t.TotalSeconds);
        }

        series.PromptTokens.Inc(promptTokens);
        series.CompletionTokens.Inc(completionTokens);
        series.Cost.Inc(estimatedCost);
    }

    private RequestSeries NewRequestSeries((string Model, string Target, int Status) key) =>
        new(requests.WithLabels(key.Model, key.Target, key.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)), duration.WithLabels(key.Model));

    private TargetSeries NewTargetSeries(string target) =>
        new(ttft.WithLabels(target), tokens.WithLabels(target, "prompt"), tokens.WithLabels(target, "completion"), cost.WithLabels(target));

    public void FellBack(string target) => fallbacks.WithLabels(target).Inc();

    public void AuditRowsDropped(int count) => auditDropped.Inc(count);

    public Task ExportAsync(Stream stream, CancellationToken cancellationToken) => Registry.CollectAndExportAsTextAsync(stream, cancellationToken);

    private sealed record RequestSeries(Counter.Child Requests, Histogram.Child Duration);

    private sealed record TargetSeries(Histogram.Child TimeToFirstToken, Counter.Child PromptTokens, Counter.Child CompletionTokens, Counter.Child Cost);
}

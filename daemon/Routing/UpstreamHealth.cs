using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Polly;
using Polly.CircuitBreaker;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// What the router knows about each upstream: its Polly circuit breaker (open: skipped until a half-open probe succeeds),
/// and per target the EWMA of time to first token, requests and failures.
/// </summary>
internal sealed class UpstreamHealth(ConfigHolder config, EventHub events, TimeProvider time)
{
    private const double EwmaWeight = 0.3;

    private readonly ConcurrentDictionary<string, Breaker> breakers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TargetStats> targets = new(StringComparer.Ordinal);

    /// <summary>
    /// Runs an attempt through the upstream's breaker; throws <see cref="BrokenCircuitException"/> while it is open. The
    /// attempt's type is the caller's (the gateway's): every attempt on one upstream must have the same.
    /// </summary>
    public ValueTask<TAttempt> ExecuteAsync<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TAttempt, TState>(RouteTarget target, Func<TState, CancellationToken, ValueTask<TAttempt>> attempt, TState state, CancellationToken cancellationToken)
    {
        if (!breakers.TryGetValue(target.Upstream, out var breaker))
        {
            breaker = breakers.GetOrAdd(target.Upstream, name => new Breaker(name, config.Current.Router.Breaker, events, time));
        }

        return breaker.Pipeline<TAttempt>().ExecuteAsync(attempt, state, cancellationToken);
    }

    public void RecordSuccess(RouteTarget target, TimeSpan ttft)
    {
        var stats = Stats(target.Name);
        lock (stats)
        {
            stats.Requests++;
            var ms = ttft.TotalMilliseconds;
            stats.TtftEwmaMs = stats.TtftEwmaMs is { } previous ? (EwmaWeight * ms) + ((1 - EwmaWeight) * previous) : ms;
        }
    }

    public void RecordFailure(RouteTarget target)
    {
        var stats = Stats(target.Name);
        lock (stats)
        {
            stats.Requests++;
            stats.Failures++;
        }
    }

    public double? TtftEwmaMs(string target) => targets.TryGetValue(target, out var stats) ? stats.TtftEwmaMs : null;

    public (ulong Requests, ulong Failures, double? TtftEwmaMs) StatsFor(string target)
    {
        if (!targets.TryGetValue(target, out var stats))
        {
            return (0, 0, null);
        }

        lock (stats)
        {
            return (stats.Requests, stats.Failures, stats.TtftEwmaMs);
        }
    }

    /// <summary>A provider's totals over its models; its EWMA is the mean of its measured models'.</summary>
    public (ulong Requests, ulong Failures, double? TtftEwmaMs) ProviderStats(string provider)
    {
        var prefix = provider + "/";
        var all = targets.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(StatsFor).ToList();
        var measured = all.Where(s => s.TtftEwmaMs is not null).Select(s => s.TtftEwmaMs!.Value).ToList();
        return ((ulong)all.Sum(s => (decimal)s.Requests), (ulong)all.Sum(s => (decimal)s.Failures), measured.Count > 0 ? measured.Average() : null);
    }

    /// <summary>Every breaker that has seen traffic, for status, metrics and <c>ullmctl providers</c>.</summary>
    public IReadOnlyList<BreakerSnapshot> Breakers() =>
        [.. breakers.Values.Select(b => b.Snapshot()).OrderBy(b => b.Upstream, StringComparer.Ordinal)];

    public BreakerSnapshot? BreakerOf(string upstream) => breakers.TryGetValue(upstream, out var breaker) ? breaker.Snapshot() : null;

    private TargetStats Stats(string target) => targets.GetOrAdd(target, _ => new TargetStats());

    private sealed class TargetStats
    {
        public ulong Requests { get; set; }

        public ulong Failures { get; set; }

        public double? TtftEwmaMs { get; set; }
    }

    private sealed class Breaker
    {
        private readonly CircuitBreakerStateProvider state = new();
        private readonly string upstream;
        private DateTimeOffset changedAt;
        private string? lastError;

        private readonly BreakerConfig settings;
        private readonly EventHub events;
        private readonly TimeProvider time;
        private readonly Lock building = new();
        private object? pipeline;

        public Breaker(string upstream, BreakerConfig settings, EventHub events, TimeProvider time)
        {
            this.upstream = upstream;
            this.settings = settings;
            this.events = events;
            this.time = time;
            changedAt = time.GetUtcNow();
        }

        /// <summary>
        /// Typed to the attempt: an untyped pipeline runs a typed call through bridging layers, each an async step more.
        /// Built on first use, as the attempt's type is known only then.
        /// </summary>
        public ResiliencePipeline<TAttempt> Pipeline<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TAttempt>()
        {
            if (Volatile.Read(ref pipeline) is not { } current)
            {
                // Built once: the state provider belongs to one pipeline.
                lock (building)
                {
                    current = pipeline ??= Build<TAttempt>();
                }
            }

            return current as ResiliencePipeline<TAttempt>
                ?? throw new InvalidOperationException($"the breaker for {upstream} runs attempts of another type than {typeof(TAttempt).Name}");
        }

        // Polly asks for all members of the result type (its options validation); attempts are ullmd's own types, kept whole.
        private ResiliencePipeline<TAttempt> Build<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TAttempt>()
        {
            ValueTask Changed(string to, string? error)
            {
                changedAt = time.GetUtcNow();
                events.Publish(new DaemonEvent(changedAt, "breaker", $"circuit breaker for {upstream} is {to}" + (error is null ? "" : $": {error}"), State: to));
                return ValueTask.CompletedTask;
            }

            return new ResiliencePipelineBuilder<TAttempt> { TimeProvider = time }
                .AddCircuitBreaker(new CircuitBreakerStrategyOptions<TAttempt>
                {
                    FailureRatio = settings.FailureRatio,
                    MinimumThroughput = settings.MinimumRequests,
                    SamplingDuration = settings.Window,
                    BreakDuration = settings.BreakDuration,
                    StateProvider = state,
                    ShouldHandle = args =>
                    {
                        if (args.Outcome.Exception is UpstreamFailure { CountsAgainstBreaker: true } failure)
                        {
                            lastError = failure.Message;
                            return ValueTask.FromResult(true);
                        }

                        return ValueTask.FromResult(false);
                    },
                    OnOpened = _ => Changed("open", lastError),
                    OnHalfOpened = _ => Changed("half-open", null),
                    OnClosed = _ => Changed("closed", null),
                })
                .Build();
        }

        public BreakerSnapshot Snapshot() => new(
            upstream,
            state.CircuitState switch
            {
                CircuitState.Open or CircuitState.Isolated => "open",
                CircuitState.HalfOpen => "half-open",
                _ => "closed",
            },
            changedAt,
            lastError);
    }
}

internal sealed record BreakerSnapshot(string Upstream, string State, DateTimeOffset ChangedAt, string? LastError);

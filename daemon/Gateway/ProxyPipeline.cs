using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly.CircuitBreaker;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gateway.Caching;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Serves one OpenAI request: tries the plan's targets in order until one produces its first content (falling back on
/// connect errors, timeouts, 5xx and 429 before anything reached the client), then relays the answer — a stream chunk by
/// chunk as it arrives, ending it with an error event and no end marker if the upstream fails afterwards. A whole
/// answer, or a stream's end marker, goes to the client only once the request's audit row is safe from a SIGKILL
/// (<see cref="AuditQueue.CommitAsync"/>: journalled, or else committed), after the backend's slot is released.
/// </summary>
internal sealed partial class ProxyPipeline(
    ModelRouter router,
    UpstreamHealth health,
    IModelEndpoints local,
    OpenAiCompatibleClient openAi,
    AnthropicClient anthropic,
    UpstreamConnections providerConnections,
    ConfigHolder config,
    CacheGate cache,
    GatewayMetrics metrics,
    AuditQueue audit,
    TimeProvider time,
    ILogger<ProxyPipeline> logger)
{
    public async Task RunAsync(HttpContext context, Exchange exchange, ProxyRequest request, IClientProtocol protocol)
    {
        var aborted = context.RequestAborted;
        exchange.EstimatedPromptTokens = request.PromptLength / 4;
        var forwarded = context.Request.Headers.ContainsKey(PeerHeaders.Hop);
        var plan = router.Plan(request.Model, forwarded)
            ?? throw new GatewayException(404, router.DescribeUnknown(request.Model) + (forwarded ? ForwardedNote : ""), "model", "model_not_found");
        exchange.RoutedModel = plan.ModelLabel;
        CheckAllowed(exchange.Client, plan);
        plan = ForAnonymous(exchange, plan, config.Current.Security);
        // After the checks: a key that may not use the model, or an anonymous caller, gets no cached answer either.
        using var cached = await cache.OpenAsync(context, exchange, request, aborted);
        if (cached.Hit is { } hit)
        {
            await AnswerReplay.WriteAsync(context, hit, request.Stream, request.IncludeUsage, protocol, () => CommitAuditAsync(exchange, aborted));
            return;
        }

        await using var notice = LoadingNotice.Begin(
            context, protocol, request, plan, local.Progress, config.Current.Router.LoadingNotice, exchange.RequestId, time.GetUtcNow());
        UpstreamFailure? last = null;
        foreach (var target in plan.Targets)
        {
            exchange.Path.Add(target.Name);
            if (NotServed(config.Current, target, request.Kind) is { } notServed)
            {
                // Decided by the config before anything is loaded or asked: no breaker counts it.
                last = notServed;
                exchange.Path[^1] += " (endpoint not served)";
                continue;
            }

            // A target that speaks the client's API gets the request as it is, and its answer goes out through that API's relay.
            var native = protocol.Native is { } api && SpeaksNatively(target, api.Format) ? api : null;
            var relay = native?.Protocol ?? protocol;
            if (native is null && protocol.Native?.Untranslatable is { } why)
            {
                last = new UpstreamFailure(
                    400, $"{target.Name}: it does not speak the Responses API natively (responses_api), and the request cannot be translated for it: {why.Message}", retryable: true);
                exchange.Path[^1] += " (cannot translate)";
                continue;
            }

            UpstreamAttempt attempt;
            try
            {
                attempt = await health.ExecuteAsync(
                    target,
                    static (state, ct) => state.Pipeline.StartAsync(state.Target, state.Request, state.Native, state.RequestId, ct),
                    (Pipeline: this, Target: target, Request: request, Native: native, exchange.RequestId),
                    aborted);
            }
            catch (BrokenCircuitException e)
            {
                // Retry-After: what is left of the break, not a guess.
                last = new UpstreamFailure(503, $"{target.Name}: circuit breaker open after repeated failures", retryable: true, e.RetryAfter);
                exchange.Path[^1] += " (breaker open)";
                continue;
            }
            catch (UpstreamFailure failure)
            {
                health.RecordFailure(target);
                metrics.FellBack(target.Label);
                LogAttemptFailed(logger, exchange.RequestId, target.Name, failure.Message);
                last = failure;
                exchange.Path[^1] += $" ({failure.StatusCode})";
                if (!failure.Retryable)
                {
                    break;
                }

                continue;
            }
            catch (ModelUnavailableException e)
            {
                last = new UpstreamFailure(e.StatusCode, $"{target.Name}: {e.Message}", retryable: true, e.RetryAfter);
                exchange.Path[^1] += $" ({e.StatusCode})";
                continue;
            }

            // The cache holds OpenAI-shaped answers: a native one is relayed, not kept.
            var keep = native is null ? cached : CacheSession.Off;

            if (notice is not null)
            {
                // Before the answer: the notice and the relay never write at once.
                await notice.DisposeAsync();
            }

            byte[]? whole = null;
            bool ended;
            await using (attempt)
            {
                health.RecordSuccess(target, attempt.TimeToFirstToken);
                exchange.Target = target;
                exchange.TimeToFirstToken = attempt.TimeToFirstToken;
                if (attempt.Chunks is null)
                {
                    Count(exchange, attempt.Held[0].Info);
                    whole = attempt.Reply.Body!;
                    ended = true;
                }
                else
                {
                    ended = await RelayAsync(context, exchange, request, attempt, relay, keep);
                }
            }

            if (ended)
            {
                await CommitAuditAsync(exchange, aborted);
                await (whole is null ? relay.EndStreamAsync(context) : relay.WriteResponseAsync(context, whole));

                // The answer's end and the response's own (a stream's last chunk) go out now, not after the cache's copy.
                await context.Response.CompleteAsync();
                await (whole is null ? keep.StoreStreamAsync(exchange) : keep.StoreBodyAsync(whole, exchange));
            }

            return;
        }

        var failed = NoTargetServed(last, request.Model, plan, exchange);
        throw forwarded ? new GatewayException(failed.StatusCode, failed.Message + ForwardedNote, failed.Param, failed.Code, failed.RetryAfter) : failed;
    }

    /// <summary>How long a request that found its local backend gone waits to hear why (see <see cref="BackendLostAsync"/>).</summary>
    private static readonly TimeSpan LostWait = TimeSpan.FromSeconds(1);

    private const string ForwardedNote = $" (a peer forwarded this request, marked {PeerHeaders.Hop}: it is served here or not at all, never forwarded again)";

    /// <summary>Makes the request's audit row safe from a SIGKILL before its answer's end goes out (see <see cref="AuditQueue"/>).</summary>
    private async Task CommitAuditAsync(Exchange exchange, CancellationToken cancellationToken)
    {
        await audit.CommitAsync(exchange.ToRow(time.GetElapsedTime(exchange.StartedAt)), cancellationToken);
        exchange.Audited = true;
    }

    /// <summary>The error once every target of <paramref name="plan"/> failed: the last failure, with the targets tried.</summary>
    internal static GatewayException NoTargetServed(UpstreamFailure? last, string model, RoutePlan plan, Exchange exchange)
    {
        var final = last ?? new UpstreamFailure(503, $"no target can serve '{model}'", retryable: false);
        var tried = plan.Targets.Count > 1 ? $" (tried {string.Join(", ", exchange.Path)})" : "";
        return new GatewayException(final.StatusCode, final.Message + tried, code: final.StatusCode switch
        {
            429 => "rate_limit_exceeded",
            503 => "model_unavailable",
            504 => "upstream_timeout",
            502 => "upstream_error",
            _ => null,
        }, retryAfter: final.RetryAfter ?? (final.StatusCode is 429 or 503 ? TimeSpan.FromSeconds(1) : null));
    }

    /// <summary>Whether <paramref name="target"/> is declared to speak <paramref name="format"/> (a provider with responses_api = true).</summary>
    internal static bool SpeaksNatively(RouteTarget target, WireFormat format) =>
        format == WireFormat.Responses && target.Provider is { Kind: ProviderKind.OpenAi, ResponsesApi: true };

    private async ValueTask<UpstreamAttempt> StartAsync(RouteTarget target, ProxyRequest request, NativeApi? native, string requestId, CancellationToken cancellationToken)
    {
        var format = native?.Format ?? WireFormat.OpenAi;
        var timeouts = config.Current.Router.Timeouts;
        ModelLease? lease = null;
        RequestAdmission.RequestSlot? slot = null;
        UpstreamReply? reply = null;
        IAsyncEnumerator<UpstreamChunk>? chunks = null;
        string? key = null;
        var attemptCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        CancellationTokenRegistration revocation = default;
        try
        {
            UpstreamEndpoints endpoints;
            UpstreamConnections connections;
            string upstreamModel;
            string? forwardedId = null;
            if (target.Peer is { } peer)
            {
                endpoints = UpstreamEndpoints.OfV1Base(peer.V1Base);
                connections = providerConnections;
                upstreamModel = target.Model;
                forwardedId = requestId;
                key = ApiKeyReader.Read(peer.ApiKey)
                    ?? throw new UpstreamFailure(502, $"{target.Name}: the peer's API key ({peer.ApiKey}) is not available", retryable: true);
            }
            else if (target.Provider is { } provider)
            {
                endpoints = UpstreamEndpoints.OfV1Base(provider.V1Base);
                connections = providerConnections;
                upstreamModel = target.Model;
                if (provider.ApiKey.Kind != ApiKeySourceKind.None)
                {
                    key = ApiKeyReader.Read(provider.ApiKey)
                        ?? throw new UpstreamFailure(502, $"{target.Name}: the provider's API key ({provider.ApiKey}) is not available", retryable: true);
                }
            }
            else
            {
                // Loading on demand may take minutes; the first-token timeout starts once the backend is ready.
                var leased = await local.AcquireAsync(target.Model, cancellationToken);
                if (!leased.Succeeded)
                {
                    throw ModelUnavailableException.From(leased.Failure);
                }

                lease = leased.Value;
                revocation = lease.Revoked.UnsafeRegister(static cancellation => ((CancellationTokenSource)cancellation!).Cancel(), attemptCancellation);
                endpoints = lease.ApiBase is { } api ? UpstreamEndpoints.OfV1Base(api) : UpstreamEndpoints.OfRoot(lease.BaseAddress);
                connections = lease.Connections;
                upstreamModel = lease.UpstreamModel;
                slot = await AdmitAsync(target, connections, cancellationToken);
            }

            var client = target.Provider?.Kind == ProviderKind.Anthropic ? (IUpstreamClient)anthropic : openAi;
            var started = time.GetTimestamp();
            attemptCancellation.CancelAfter(timeouts.FirstToken);
            var body = native is null ? request.ForUpstream(upstreamModel) : NativeBody(native, upstreamModel);
            reply = await client.SendAsync(new UpstreamCall(target.Name, request.Kind, endpoints, connections, body, request.Stream, key, forwardedId) { Format = format }, attemptCancellation.Token);
            // A whole body, or a stream's role chunk and first content chunk, as a rule.
            var held = new List<(UpstreamChunk, ChunkInfo)>(reply.Chunks is null ? 1 : 2);
            if (reply.Chunks is null)
            {
                var info = ChunkInfo.Inspect(format, reply.Body!);
                if (info.Error is not null)
                {
                    throw new UpstreamFailure(502, $"{target.Name}: {info.Error}", retryable: true, answered: true);
                }

                held.Add((new UpstreamChunk(reply.Body, false), info));
            }
            else
            {
                chunks = reply.Chunks.GetAsyncEnumerator(attemptCancellation.Token);
                while (true)
                {
                    if (!await chunks.MoveNextAsync())
                    {
                        throw new UpstreamFailure(502, $"{target.Name}: the stream ended before any content", retryable: true);
                    }

                    var chunk = chunks.Current;
                    if (chunk.Done)
                    {
                        throw new UpstreamFailure(502, $"{target.Name}: the stream ended ([DONE]) before any content", retryable: true);
                    }

                    var info = ChunkInfo.Inspect(format, chunk.Json);
                    if (info.Error is not null)
                    {
                        throw new UpstreamFailure(502, $"{target.Name}: {info.Error}", retryable: true, answered: true);
                    }

                    // Held past the reader's next read, which reuses its buffer: a copy.
                    held.Add((chunk with { Json = chunk.Json.ToArray() }, info));
                    if (info.HasContent || info.Finished)
                    {
                        break;
                    }
                }
            }

            return new UpstreamAttempt(target, format, lease, slot, key, reply, attemptCancellation, revocation, chunks, held, time.GetElapsedTime(started));
        }
        catch (Exception e)
        {
            if (chunks is not null)
            {
                await chunks.DisposeAsync();
            }

            reply?.Dispose();
            await revocation.DisposeAsync();
            attemptCancellation.Dispose();
            slot?.Dispose();
            var lost = lease?.Lost;
            if (lease is not null)
            {
                await lease.DisposeAsync();
            }

            var failure = e switch
            {
                _ when lease?.Revoked.IsCancellationRequested == true =>
                    new UpstreamFailure(503, $"{target.Name}: ended by a forced unload (ullmctl unload --force) before it answered", retryable: false, inner: e, countsAgainstBreaker: false),
                OperationCanceledException when !cancellationToken.IsCancellationRequested =>
                    new UpstreamFailure(504, $"{target.Name}: no first token within {timeouts.FirstToken.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (router.first_token_timeout_seconds)", retryable: true, inner: e),
                HttpRequestException or IOException => new UpstreamFailure(502, $"{target.Name}: connection lost: {Describe(e)}", retryable: true, inner: e),
                JsonException => SseChunks.Malformed(target.Name, e.Message),
                _ => e,
            };
            if (lost is not null && failure is UpstreamFailure { StatusCode: 502, Answered: false } && IsRefused(e)
                && await BackendLostAsync(lost, cancellationToken) is { } reason)
            {
                failure = new UpstreamFailure(502, reason, retryable: true, inner: e);
            }

            if (failure is UpstreamFailure upstreamFailure)
            {
                // The breaker keeps the message as its last error: credentials come out before it sees it. A local
                // backend that answered is alive; what it answered was about this request (a client can make
                // llama-server answer 500), so it does not count against the backend's breaker.
                failure = upstreamFailure.Redacted(key).CountingAgainstBreaker(upstreamFailure.CountsAgainstBreaker && !(target.IsLocal && upstreamFailure.Answered));
                if (target.Peer is not null && upstreamFailure is { Answered: true, StatusCode: 404 })
                {
                    // The peer no longer has the model (its config changed since its status was read): the next host may.
                    failure = new UpstreamFailure(upstreamFailure.StatusCode, failure.Message, retryable: true, answered: true, countsAgainstBreaker: false);
                }
            }

            throw failure;
        }
    }

    /// <summary>The client's request in its own API, naming the upstream's model.</summary>
    private static byte[] NativeBody(NativeApi native, string upstreamModel)
    {
        var body = (JsonObject)native.Body.DeepClone();
        body["model"] = upstreamModel;
        return NodeJson.Utf8(body);
    }

    /// <summary>Why a local target's backend cannot answer this endpoint (a generic one serves what it declares), or null.</summary>
    internal static UpstreamFailure? NotServed(UllmConfig current, RouteTarget target, EndpointKind kind)
    {
        if (!target.IsLocal || !current.Models.TryGetValue(target.Model, out var model))
        {
            return null;
        }

        var served = EndpointKinds.ServedBy(current.Backends.For(model), model.Backend);
        if (served.HasFlag(kind.Served()))
        {
            return null;
        }

        var names = Enum.GetValues<EndpointKind>().Where(k => served.HasFlag(k.Served())).Select(k => k.ConfigName());
        return new UpstreamFailure(
            400, $"{target.Name}: its backend '{model.BackendKey}' does not serve {kind.ConfigName()} (it serves: {string.Join(", ", names)})", retryable: true);
    }

    /// <summary>A request slot on a local backend; overload is the backend's queue being full, never its failure.</summary>
    internal static async ValueTask<RequestAdmission.RequestSlot?> AdmitAsync(RouteTarget target, UpstreamConnections connections, CancellationToken cancellationToken)
    {
        if (connections.Admission is not { } admission)
        {
            return null;
        }

        var admitted = await admission.EnterAsync(cancellationToken);
        return admitted.Refusal switch
        {
            AdmissionRefusal.None => admitted.Slot,
            AdmissionRefusal.QueueFull => throw new ModelUnavailableException(
                429, $"{target.Name} is busy: {admission.Slots} request(s) in flight and {admission.QueueCapacity} waiting", admitted.RetryAfter),
            _ => throw new ModelUnavailableException(
                503, $"{target.Name} is busy: no request slot came free within {admission.QueueTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s", admitted.RetryAfter),
        };
    }

    /// <summary>
    /// Relays the stream up to its end marker (not written: true) or ends it with an error event (false). What one
    /// upstream read brought is written and flushed once, as soon as it is written: no chunk waits for the next read.
    /// </summary>
    private async Task<bool> RelayAsync(HttpContext context, Exchange exchange, ProxyRequest request, UpstreamAttempt attempt, IClientProtocol protocol, CacheSession cached)
    {
        var idle = config.Current.Router.Timeouts.Idle;
        var name = attempt.Target.Name;
        if (!context.Response.HasStarted)
        {
            // Begun already when a loading notice was sent.
            await protocol.BeginStreamAsync(context);
        }

        try
        {
            var ended = false;
            foreach (var (chunk, info) in attempt.Held)
            {
                RelayChunk(context, exchange, request, chunk, info, protocol, cached);
                ended |= info.EndsStream;
            }

            await ClientStream.FlushAsync(context);
            var chunks = attempt.Chunks!;
            var unflushed = false;
            var buffered = false;
            while (!ended)
            {
                if (!buffered)
                {
                    // Set before each read from the upstream; a chunk that came with the last read is taken without one.
                    attempt.Timeouts.CancelAfter(idle);
                }

                if (!await chunks.MoveNextAsync())
                {
                    throw new UpstreamFailure(502, $"{name}: the upstream closed the stream before it ended", retryable: false);
                }

                var chunk = chunks.Current;
                if (chunk.Done)
                {
                    break;
                }

                var info = ChunkInfo.Inspect(attempt.Format, chunk.Json);
                if (info.Error is not null)
                {
                    throw new UpstreamFailure(502, $"{name}: {info.Error}", retryable: false);
                }

                unflushed |= RelayChunk(context, exchange, request, chunk, info, protocol, cached);
                ended = info.EndsStream;
                buffered = chunk.MoreBuffered;
                if (unflushed && !buffered)
                {
                    await ClientStream.FlushAsync(context);
                    unflushed = false;
                }
            }

            if (unflushed)
            {
                await ClientStream.FlushAsync(context);
            }

            if (attempt.Format == WireFormat.OpenAi && request.IncludeUsage && exchange.TokensEstimated)
            {
                await protocol.WriteChunkAsync(context, EstimatedUsageChunk(exchange));
            }

            return true;
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested && e is UpstreamFailure or OperationCanceledException or HttpRequestException or IOException or JsonException)
        {
            var error = e switch
            {
                _ when attempt.Revoked => new GatewayException(503, $"{name}: ended mid-stream by a forced unload (ullmctl unload --force)", code: "stream_failed"),
                UpstreamFailure f => new GatewayException(f.StatusCode, f.Redacted(attempt.ApiKey).Message, code: "stream_failed"),
                OperationCanceledException => new GatewayException(504, $"{name}: no data for {idle.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s mid-stream (router.idle_timeout_seconds)", code: "stream_failed"),
                JsonException => new GatewayException(502, $"{name}: malformed stream: {e.Message}", code: "stream_failed"),
                _ => new GatewayException(502, $"{name}: connection lost mid-stream: {Describe(e)}", code: "stream_failed"),
            };
            exchange.Failed(error, "stream_failed");
            if (!attempt.Revoked)
            {
                health.RecordFailure(attempt.Target);
            }

            LogStreamFailed(logger, exchange.RequestId, name, error.Message);
            await protocol.FailStreamAsync(context, error);
            return false;
        }
    }

    /// <summary>Counts and observes one chunk, and writes it unless it is usage the client did not ask for; whether it wrote it.</summary>
    private static bool RelayChunk(HttpContext context, Exchange exchange, ProxyRequest request, UpstreamChunk chunk, ChunkInfo info, IClientProtocol protocol, CacheSession cached)
    {
        Count(exchange, info);
        cached.Observe(chunk.Json);
        // Usage is always asked of the upstream (to count tokens) but goes to the client only if it asked for it.
        if (info.UsageOnly && !request.IncludeUsage)
        {
            return false;
        }

        protocol.WriteChunk(context, chunk.Json);
        return true;
    }

    private static string Describe(Exception e) => e is HttpRequestException http ? UpstreamHttp.Describe(http) : e.Message;

    /// <summary>Nothing listens on the backend's port any more: it is gone, not merely failing this request.</summary>
    private static bool IsRefused(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A local backend refused the connection: it has died, and the scheduler's exit watcher says why within moments;
    /// that (its exit status, the RPC worker that vanished) is what the client is told. Null when it is not marked
    /// lost within <see cref="LostWait"/>: then the connection's own error stands.
    /// </summary>
    private async Task<string?> BackendLostAsync(Task<string> lost, CancellationToken cancellationToken)
    {
        try
        {
            return await lost.WaitAsync(LostWait, time, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            return null;
        }
    }

    private static void Count(Exchange exchange, ChunkInfo info)
    {
        exchange.CompletionChars += info.ContentChars;
        if (info.PromptTokens is { } prompt)
        {
            exchange.PromptTokens = prompt;
            exchange.CompletionTokens = info.CompletionTokens;
        }
    }

    private static byte[] EstimatedUsageChunk(Exchange exchange) => NodeJson.Utf8(new JsonObject
    {
        ["object"] = "chat.completion.chunk",
        ["model"] = exchange.Target?.Model,
        ["choices"] = new JsonArray(),
        ["usage"] = new JsonObject
        {
            ["prompt_tokens"] = exchange.Prompt,
            ["completion_tokens"] = exchange.Completion,
            ["total_tokens"] = exchange.Prompt + exchange.Completion,
            ["estimated"] = true,
        },
    });

    internal static void CheckAllowed(ClientIdentity client, RoutePlan plan)
    {
        if (client.Key is { Models.Count: > 0 } key && !key.Models.Contains(plan.RequestedModel, StringComparer.Ordinal)
            && !plan.Targets.Any(t => key.Models.Contains(t.Model, StringComparer.Ordinal) && !t.IsProvider))
        {
            throw new GatewayException(403, $"the API key '{key.Name}' may not use model '{plan.RequestedModel}' (allowed: {string.Join(", ", key.Models)})", "model", "model_not_allowed");
        }
    }

    /// <summary>
    /// Without an API key (and without security.anonymous_providers) only local models serve: provider targets of a
    /// route or fallback chain are skipped (and named in the audit path), and a request no local target can serve is
    /// refused with 403 before anything is tried.
    /// </summary>
    internal static RoutePlan ForAnonymous(Exchange exchange, RoutePlan plan, SecurityConfig security)
    {
        if (exchange.Client.Key is not null || security.AnonymousProviders || plan.Targets.All(t => !t.IsProvider))
        {
            return plan;
        }

        var local = plan.Targets.Where(t => !t.IsProvider).ToList();
        var providers = string.Join(", ", plan.Targets.Where(t => t.IsProvider).Select(t => t.Name));
        if (local.Count == 0)
        {
            throw new GatewayException(403,
                $"'{plan.RequestedModel}' is served by a cloud provider ({providers}), which needs an API key: send 'Authorization: Bearer ullm-…' "
                + "(ullmctl keys create), or set security.anonymous_providers = true to let callers without a key use providers",
                "model", "provider_needs_key");
        }

        exchange.Path.AddRange(plan.Targets.Where(t => t.IsProvider).Select(t => $"{t.Name} (skipped: no API key)"));
        return plan with { Targets = local };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId}: {Target} failed before the first byte, trying the next target: {Reason}")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, string target, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId}: {Target} failed mid-stream, the stream ended with an error event: {Reason}")]
    private static partial void LogStreamFailed(ILogger logger, string requestId, string target, string reason);
}
